"""An HTTP server with a listen backlog that fits bursts and a bounded pool of worker threads.

The standard library's ``ThreadingHTTPServer`` starts one thread per connection, without a limit, and
listens with a backlog of 5: under 50 concurrent clients the kernel drops connections ("connection
reset by peer") while the threads that were accepted compete for the same cores. Here one thread
accepts connections (backlog ``backlog``, default 1024, capped by the kernel's ``somaxconn``) into a
queue of at most ``max_pending`` connections, and ``workers`` threads answer them. When the queue is
full the accepting thread answers ``503 Service Unavailable`` at once (with ``Retry-After``) rather
than letting connections pile up without bound.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from http.server import HTTPServer

BUSY_BODY = b'{"error":"the server is busy: too many requests waiting; retry in a moment"}'
BUSY_REPLY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + str(len(BUSY_BODY)).encode() + b"\r\n\r\n"
) + BUSY_BODY


class PooledHTTPServer(HTTPServer):
    """``HTTPServer`` whose requests run on ``workers`` threads, fed by a queue of ``max_pending``."""

    def __init__(
        self, address, handler, *, workers: int = 8, max_pending: int = 256, backlog: int = 1024
    ) -> None:
        for name, value in (("workers", workers), ("max_pending", max_pending), ("backlog", backlog)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        self.request_queue_size = backlog  # read by server_activate() -> listen(backlog)
        self.workers, self.max_pending = workers, max_pending
        self._queue: queue.Queue = queue.Queue(max_pending)
        self.rejected = 0  # connections answered 503 because the queue was full
        super().__init__(address, handler)
        self._threads = [
            threading.Thread(target=self._work, name=f"attnlab-serve-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def process_request(self, request, client_address) -> None:
        """Queue the connection for a worker (called by the accepting thread)."""
        try:
            self._queue.put_nowait((request, client_address))
        except queue.Full:
            self.rejected += 1
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(BUSY_REPLY)
            self.shutdown_request(request)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def shutdown_request(self, request) -> None:
        with contextlib.suppress(OSError):
            request.shutdown(socket.SHUT_WR)  # the client reads the whole reply before the close
        self.close_request(request)

    def server_close(self) -> None:
        super().server_close()
        for _ in self._threads:
            try:
                self._queue.put(None, timeout=1.0)
            except queue.Full:
                break  # workers are still busy with queued requests: they are daemon threads
        for t in self._threads:
            t.join(timeout=5)
