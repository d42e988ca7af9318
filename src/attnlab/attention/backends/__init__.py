"""The built-in attention backends, one module each; importing a module registers its backends.

The backend protocol (``fn(q, k, v, request) -> out``, ``check(request) -> reason | None``), the
:class:`Request` and the registry live in :mod:`attnlab.attention.request`; they are re-exported here
for code that names the registry through its backends. Import order is the order ``attnlab list``
shows.
"""

from ..request import BACKENDS, Backend, Request, register_backend

# Registration order is the order ``BACKENDS`` iterates and ``attnlab list`` shows: keep it.
# isort: off
from . import reference, sdpa, chunked, banded, flex, linear, performer, nystrom, linformer, int8  # noqa: F401
# isort: on

__all__ = ["BACKENDS", "Backend", "Request", "register_backend"]
