"""The explorer's HTTP server: a bounded pool of worker threads, a page and a JSON API.

Routes:

- ``GET /`` the page; ``GET /static/<file>`` its script and style (served from the package, no CDN);
  ``GET /font/cjk`` the CJK font of :func:`attnlab.interpret.cjk_font_path` (Chinese tokens render);
- ``GET /api/models`` -> ``{"models": [{"name", "description", "example"}], "max_tokens"}``;
- ``POST /api/inspect`` with ``{"model": NAME, "text": TEXT}`` -> :meth:`Inspection.to_json`
  (tokens, ``attentions[kind] = {shape, query_tokens, key_tokens, weights (layers, heads, Lq, Lk)}``,
  output).

Every error is JSON ``{"error": message}`` with a 4xx status: 400 malformed JSON, invalid UTF-8,
empty or too long text; 403 a request from another site or for another host name
(:mod:`attnlab.serve.guard`); 404 unknown model or path; 405 wrong method; 411/413 missing or
oversized body; 503 when more requests wait than the queue holds (:mod:`attnlab.serve.pool`). A bug
answers 500 with an error id and no exception text; the traceback goes to the server's log (stderr).
Only names from :func:`list_models` are accepted (never a file path). Requests run on a bounded pool
of worker threads; each model loads once behind its own lock (a demo model that trains on first use
blocks only the requests for that model) into a small LRU (:class:`attnlab.app.inspect.ModelStore`),
and inference runs concurrently under ``torch.inference_mode``.
"""

from __future__ import annotations

import json
import sys
import traceback
import uuid
from http.server import BaseHTTPRequestHandler
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from attnlab.app.inspect import DEMO_MODELS, ModelStore, inspect_text, list_models
from attnlab.interpret.fonts import INSTALL_HINT, cjk_font_path

from .guard import refusal
from .pool import PooledHTTPServer

MAX_BODY = 64 * 1024  # bytes: a text of max_tokens tokens is far smaller
# The longest text accepted: the maps of one text are layers x heads x L^2 numbers (MiniLM at 512
# tokens: 19 million, ~150 MB of JSON), and 512 is the longest input of the models served.
MAX_TOKENS_LIMIT = 512
STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"


class ApiError(Exception):
    """An HTTP error with a message for the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_max_tokens(max_tokens) -> int:
    """``max_tokens`` if it is a whole number in 1..:data:`MAX_TOKENS_LIMIT`, else a clear ValueError."""
    if (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= MAX_TOKENS_LIMIT
    ):
        raise ValueError(
            f"max-tokens: expected a whole number from 1 to {MAX_TOKENS_LIMIT}, got {max_tokens!r} (the "
            "attention maps of a text grow with the square of its length)"
        )
    return max_tokens


class ExplorerServer(PooledHTTPServer):
    """The explorer's HTTP server: knows where the models are, keeps them loaded, answers on
    ``workers`` threads (see :class:`attnlab.serve.pool.PooledHTTPServer`)."""

    def __init__(
        self,
        address,
        models_dir=None,
        max_tokens: int = 128,
        cache_size: int = 4,
        quiet=False,
        *,
        workers: int = 8,
        max_pending: int = 256,
    ):
        check_max_tokens(max_tokens)
        if models_dir is not None and not Path(models_dir).is_dir():
            raise ValueError(f"models: {models_dir} is not a folder")
        super().__init__(address, Handler, workers=workers, max_pending=max_pending)
        self.models_dir, self.max_tokens, self.quiet = models_dir, max_tokens, quiet
        self.store = ModelStore(cache_size)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: ExplorerServer
    server_version = "attnlab-serve"  # HTTP/1.0: one request per connection, nothing half-read lingers
    timeout = 15  # seconds a client may take to send its request (a silent one must not hold a worker)

    # -- plumbing --------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    def _handle(self, route) -> None:
        try:
            status, data = route()
            self._json(status, data)
        except ApiError as e:
            self._json(e.status, {"error": str(e)})
        except Exception:  # a bug: the details go to the server's log, never to the client
            error_id = uuid.uuid4().hex[:8]
            print(f"attnlab serve: internal error {error_id} on {self.command} {self.path}:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"internal error (id {error_id}); the details are in the server's log"})

    def _refused(self) -> bool:
        """Answer 403 and return True when the Host/Origin check refuses this request."""
        host, port = self.server.server_address[:2]
        why = refusal(
            self.headers.get("Host"),
            self.headers.get("Origin"),
            self.headers.get("Sec-Fetch-Site"),
            host,
            port,
        )
        if why is not None:
            self._json(403, {"error": why})
        return why is not None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        if not self.server.quiet:
            super().log_message(format, *args)

    # -- routes ----------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self._refused():
            return
        path = urlsplit(self.path).path
        if path in ("/", "/index.html") or path.startswith("/static/"):
            name = "index.html" if not path.startswith("/static/") else path[len("/static/") :]
            if name not in STATIC:
                return self._json(404, {"error": f"not found: {path}"})
            body = resources.files("attnlab.serve").joinpath("static", name).read_bytes()
            return self._send(200, body, f"{STATIC[name]}; charset=utf-8")
        if path == "/font/cjk":  # the font the heatmaps use, so Chinese renders without system fonts
            font = cjk_font_path()
            if font is None:
                return self._json(404, {"error": f"no CJK font installed ({INSTALL_HINT})"})
            kind = "font/otf" if font.lower().endswith(".otf") else "font/ttf"
            return self._send(200, Path(font).read_bytes(), kind, cache="max-age=86400")
        if path == "/api/models":
            return self._handle(self._models)
        if path == "/api/inspect":
            return self._json(405, {"error": "POST a JSON object {model, text} to /api/inspect"})
        self._json(404, {"error": f"not found: {path}"})

    do_HEAD = do_GET  # noqa: N815

    def do_POST(self) -> None:  # noqa: N802
        if self._refused():
            return
        path = urlsplit(self.path).path
        if path != "/api/inspect":
            return self._json(
                404 if path not in ("/", "/api/models") else 405, {"error": f"cannot POST {path}"}
            )
        self._handle(self._inspect)

    def _models(self) -> tuple[int, dict]:
        models = [
            {"name": name, "description": desc, "example": getattr(DEMO_MODELS.get(name), "example", "")}
            for name, desc in list_models(self.server.models_dir).items()
        ]
        return 200, {"models": models, "max_tokens": self.server.max_tokens}

    def _read_json(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None:
            raise ApiError(411, "request body: a Content-Length header is required")
        try:
            n = int(length)
        except ValueError:
            raise ApiError(400, f"request body: bad Content-Length {length!r}") from None
        if n < 0 or n > MAX_BODY:
            raise ApiError(413, f"request body: {n} bytes, more than the limit of {MAX_BODY}")
        raw = self.rfile.read(n)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ApiError(
                400, f"request body: not valid UTF-8 (byte 0x{raw[e.start]:02x} at {e.start})"
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ApiError(400, f"request body: malformed JSON ({e})") from None
        if not isinstance(data, dict):
            raise ApiError(400, 'request body: expected a JSON object {"model": ..., "text": ...}')
        return data

    def _inspect(self) -> tuple[int, dict]:
        data = self._read_json()
        model, text = data.get("model"), data.get("text")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "model: expected a model name (see /api/models)")
        if not isinstance(text, str):
            raise ApiError(400, "text: expected a string")
        known = list_models(self.server.models_dir)
        if model not in known:
            raise ApiError(404, f"model: unknown model {model!r}; known models: {', '.join(known)}")
        try:
            inspection = inspect_text(
                model,
                text,
                self.server.max_tokens,
                models_dir=self.server.models_dir,
                store=self.server.store,
                allow_paths=False,
            )
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        return 200, inspection.to_json()


def make_server(
    host: str = "127.0.0.1",
    port: int = 8765,
    models_dir=None,
    max_tokens: int = 128,
    quiet: bool = False,
    workers: int = 8,
) -> ExplorerServer:
    """A ready (not yet serving) server; ``port=0`` picks a free port (see ``server.url``)."""
    return ExplorerServer((host, port), models_dir, max_tokens, quiet=quiet, workers=workers)
