"""Which requests may drive the explorer: the ``Host`` and ``Origin`` checks (DNS rebinding, CSRF).

A page on another site must not use the explorer on this machine. Two attacks matter:

- *cross-site requests*: a page from ``http://evil.example`` posts to ``http://127.0.0.1:8765``.
  Browsers send ``Origin`` with such requests (with every ``POST``), so a request whose ``Origin`` is
  not the explorer's own address is refused (``Sec-Fetch-Site: cross-site`` likewise);
- *DNS rebinding*: ``evil.example`` is made to resolve to 127.0.0.1, so the page is "same-origin"
  with the explorer; but the browser then sends ``Host: evil.example:8765``. When the server listens
  on a loopback address, only the loopback names (``localhost``, ``127.0.0.1``, ``[::1]``, any
  127.x.y.z) with the server's port are accepted as ``Host``.

Requests without ``Origin`` (scripts, curl) pass the origin check; a request without ``Host``
(HTTP/1.0 scripts) passes the host check. When ``--host`` binds another interface on purpose, any
``Host`` is accepted, and ``Origin`` must still name the host the request was sent to.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``; brackets allowed)."""
    host = host.strip().lower().strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> tuple[str, int | None]:
    """``"name:port"`` / ``"[::1]:port"`` / ``"name"`` -> ``(name, port or None)``; ValueError if bad."""
    parts = urlsplit("//" + value.strip())
    return (parts.hostname or ""), parts.port


def refusal(
    host: str | None, origin: str | None, fetch_site: str | None, bound: str, port: int
) -> str | None:
    """Why a request with these headers is refused (a message for the 403 reply), or None to serve it.

    ``bound`` and ``port`` are the address the server listens on."""
    loopback_only = is_loopback(bound)
    if host:
        try:
            name, host_port = _split_host(host)
        except ValueError:
            return f"host: malformed Host header {host!r}"
        if loopback_only and not (is_loopback(name) and (host_port or 80) == port):
            return (
                f"host: {host!r} is not this explorer's address (http://127.0.0.1:{port}/); "
                "requests for other names are refused (DNS rebinding)"
            )
    if fetch_site and fetch_site.strip().lower() == "cross-site":
        return "origin: cross-site requests are refused (only the explorer's own page may use its API)"
    if origin is not None:
        parts = urlsplit(origin.strip())
        try:
            origin_port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            origin_port = None
        same_host = host is not None and (parts.hostname or "") == _split_host(host)[0]
        trusted = same_host if not loopback_only else is_loopback(parts.hostname or "")
        if parts.scheme != "http" or origin_port != port or not trusted:
            return (
                f"origin: requests from {origin!r} are refused (only the explorer's own page, "
                f"http://127.0.0.1:{port}, may use its API)"
            )
    return None
