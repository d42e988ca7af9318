"""``attnlab serve``: a local web explorer of attention maps (binds 127.0.0.1 by default).

Pick a model (built-in demos, MiniLM when installed, or the training runs of ``--models DIR``), type a
text, and the page draws every attention map (encoder, decoder, cross) as an interactive heatmap:
hover for the query and key tokens and the weight, choose layer, head or the mean of the heads.
English / 中文 interface. See docs/serve.md; the server and its API are in :mod:`attnlab.serve.app`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .app import ExplorerServer, check_max_tokens, make_server
from .guard import is_loopback

__all__ = ["ExplorerServer", "make_server", "run"]


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl-C)."""
    from attnlab.threads import configure

    if not 0 <= args.port <= 65535:
        raise ValueError(f"port: expected 0..65535, got {args.port}")
    check_max_tokens(args.max_tokens)
    if args.workers < 1:
        raise ValueError(f"workers: expected >= 1, got {args.workers}")
    if args.models is not None and not Path(args.models).is_dir():
        raise ValueError(f"models: {args.models} is not a folder")
    configure(args.threads)
    try:
        server = make_server(
            args.host, args.port, args.models, args.max_tokens, quiet=args.quiet, workers=args.workers
        )
    except OSError as e:
        raise ValueError(f"port: cannot listen on {args.host}:{args.port} ({e.strerror or e})") from None
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: other machines on the network can use this server")
    print(f"attnlab explorer: {server.url}  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
