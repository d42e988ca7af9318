"""``attnlab data``: list the tasks and datasets, show examples, prepare dataset caches.

The top-level CLI registers this with ``attnlab.app.data_commands.add_parser(subparsers)``; each
subcommand sets ``func=run``.
"""

from __future__ import annotations

import argparse
import json
import sys

from attnlab.data.base import SPLITS, DatasetUnavailable, Example
from attnlab.data.registry import TASKS, get_task

_SHADES = " .:-=+*#%@"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``data`` with its ``list``, ``show`` and ``prepare`` subcommands."""
    data = subparsers.add_parser(
        "data",
        help="offline tasks and datasets: list, show, prepare",
        description="Generated tasks and real datasets, all offline.",
    )
    sub = data.add_subparsers(dest="data_command", metavar="{list,show,prepare}")
    sub.required = True

    ls = sub.add_parser("list", help="every task and dataset, its size and whether it is available")
    ls.set_defaults(func=run)

    show = sub.add_parser("show", help="print examples of a task or dataset")
    show.add_argument("task", help=f"one of: {', '.join(TASKS)}")
    show.add_argument("-n", type=int, default=5, help="number of examples (default 5)")
    show.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    show.add_argument("--split", choices=SPLITS, default="train", help="split (default train)")
    show.add_argument("--lang", help="language, for tasks that have one (e.g. zh, en)")
    show.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task parameter, repeatable; VALUE is JSON or text (e.g. -p length=[5,10])",
    )
    show.add_argument("--json", action="store_true", help="one JSON object per example, meta included")
    show.add_argument("--width", type=int, default=300, help="cut long inputs to this many characters")
    show.set_defaults(func=run)

    prep = sub.add_parser("prepare", help="parse installed datasets into the cache")
    prep.add_argument("names", nargs="*", help="datasets to prepare (default: every available one)")
    prep.add_argument("--limit", type=int, default=None, help="keep at most this many examples per split")
    prep.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    prep.set_defaults(func=run)
    return data


def run(args: argparse.Namespace) -> int:
    """Run an ``attnlab data`` subcommand; returns the exit status."""
    try:
        if args.data_command == "list":
            return _list()
        if args.data_command == "show":
            return _show(args)
        return _prepare(args)
    except DatasetUnavailable as err:
        print(f"attnlab data {args.data_command}: error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"attnlab data {args.data_command}: error: {err}", file=sys.stderr)
        return 2


def _list() -> int:
    rows = [("NAME", "KIND", "SIZE", "AVAILABLE", "DESCRIPTION")]
    notes = []
    for info in TASKS.values():
        ok, message = info.available()
        rows.append((info.name, info.kind, info.size, "yes" if ok else "no", info.description))
        if not ok:
            notes.append(f"{info.name}: {message}")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4])
    if notes:
        print("\nMissing:")
        for note in notes:
            print(f"  {note}")
    return 0


def parse_param(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> (key, value); VALUE is read as JSON (lists become tuples), else kept as text."""
    if "=" not in text:
        raise ValueError(f"--param must look like KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(value, list):
        value = tuple(value)
    return key.strip().replace("-", "_"), value


def _show(args: argparse.Namespace) -> int:
    info = get_task(args.task)
    params = dict(parse_param(p) for p in args.param)
    if args.lang is not None:
        if "lang" in info.fixed and info.fixed["lang"] != args.lang:
            other = [
                t for t in TASKS.values() if t.fixed.get("lang") == args.lang and t.target == info.target
            ]
            hint = f"; use {other[0].name}" if other else ""
            raise ValueError(f"{info.name} is fixed to lang={info.fixed['lang']!r}{hint}")
        if "lang" not in info.fixed:
            if not info.langs:
                raise ValueError(f"{info.name} has no --lang option")
            if args.lang not in info.langs:
                raise ValueError(f"--lang for {info.name} must be one of {info.langs}, got {args.lang!r}")
            params["lang"] = args.lang
    examples = info.generate(args.n, seed=args.seed, split=args.split, **params)
    for i, ex in enumerate(examples):
        if args.json:
            print(ex.to_json())
        else:
            print(format_example(i, ex, args.width))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from importlib import import_module

    names = args.names or [t.name for t in TASKS.values() if t.kind == "dataset"]
    status = 0
    for name in names:
        info = get_task(name)
        if info.kind != "dataset":
            raise ValueError(f"{name} is generated on the fly; prepare only takes datasets")
        ok, message = info.available()
        if not ok:
            print(f"{name}: skipped: {message}")
            status = 1
            continue
        module = import_module(info.target.split(":")[0])
        sizes = {s: len(module.load(s, seed=args.seed, limit=args.limit)) for s in SPLITS}
        print(f"{name}: " + ", ".join(f"{s} {n}" for s, n in sizes.items()))
    return status


def format_example(i: int, ex: Example, width: int = 300) -> str:
    """A readable multi-line rendering of one example."""
    lines = [f"#{i}"]
    if hasattr(ex.src, "dim") and ex.src.dim() == 3:
        lines += ["  " + row for row in ascii_image(ex.src[0])]
    else:
        lines.append(f"  src: {_short(ex.src, width)}")
    lines.append(f"  tgt: {_short(ex.tgt, width)}")
    shown = {k: v for k, v in ex.meta.items() if k not in ("sentences", "alignment")}
    if shown:
        lines.append(f"  meta: {_short(json.dumps(shown, ensure_ascii=False), width)}")
    return "\n".join(lines)


def ascii_image(image) -> list[str]:
    """Rows of characters for a 2-D image with values in [0, 1] (darker character = larger value)."""
    top = len(_SHADES) - 1
    return ["".join(_SHADES[min(top, int(float(v) * top + 0.5))] * 2 for v in row) for row in image]


def _short(value, width: int) -> str:
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        text = " ".join(map(str, value))
    elif isinstance(value, list) and value and isinstance(value[0], list):
        text = " ".join("[" + ",".join(f"{x:.3g}" for x in row) + "]" for row in value)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."
