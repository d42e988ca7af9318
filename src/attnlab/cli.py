"""The ``attnlab`` command line.

Each command is a small function; errors in user input end with one clear line and exit status 2,
never a raw traceback (set ``ATTNLAB_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback


class UsageError(Exception):
    """A mistake in the command line or its inputs; printed as one line."""


def cmd_list(args: argparse.Namespace) -> int:
    from attnlab.attention import BACKENDS, masks, mods, normalizers, positions
    from attnlab.attention.backends.flex import available as flex_available

    def first_line(obj) -> str:
        return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""

    print("Attention backends (attend(..., backend=NAME)):")
    for name, spec in BACKENDS.items():
        status = ""
        if name == "flex":
            reason = flex_available(__import__("torch").device("cpu"))
            status = " [unavailable: " + reason + "]" if reason else " [CPU: inference only]"
        exact = "exact" if spec.exact else "approximate"
        print(f"  {name:<12} {exact:<11} {spec.description}{status}")
    print("  auto         picks the fastest exact backend that supports the request")
    sections = [
        ("Masks (attnlab.attention.masks)", masks.ALL_MASKS),
        ("Score mods (attnlab.attention.mods)", mods.ALL_MODS),
        ("Position encodings (attnlab.attention.positions)", positions.ALL_POSITIONS),
        ("Normalizers (attnlab.attention.normalizers)", normalizers.ALL_NORMALIZERS),
    ]
    for title, table in sections:
        print(f"\n{title}:")
        for name, obj in table.items():
            print(f"  {name:<15} {first_line(obj)}")
    from attnlab.app.recipes import FAMILIES
    from attnlab.models import list_models

    print(f"\nModels (attnlab.models.create_model(NAME); `attnlab train` takes {', '.join(FAMILIES)}):")
    for name, text in list_models().items():
        print(f"  {name:<23} {text}")
    print("\nTasks and datasets: attnlab data list")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    return importlib.import_module(f"attnlab.bench.{args.suite}").run(args)


def _threads(args: argparse.Namespace, exp) -> int | None:
    """--threads, defaulting to 1 for full profiles (one run per core, as the reference results were made)
    except for timing experiments, which measure what the machine's cores can do (torch's default)."""
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads: expected >= 1, got {args.threads}")
    if args.threads is not None:
        return args.threads
    return 1 if args.profile == "full" and not exp.timing else None


def _print_result(result, label: str) -> None:
    seeds = ", ".join(map(str, result.seeds))
    print(f"{label} ({result.profile}, seeds {seeds}, {result.wall_time_s:.1f} s): {result.verdict}")
    print(result.summary.en)


def cmd_run(args: argparse.Namespace) -> int:
    from attnlab.experiments import get_experiment, run_experiment

    exp = get_experiment(args.name)
    result = run_experiment(
        exp,
        args.profile,
        args.out,
        seeds=args.seed,
        threads=_threads(args, exp),
        force=args.force,
    )
    _print_result(result, args.name)
    print(f"results in {args.out}/{args.name}/")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if args.markdown:
        from attnlab.report import write_markdown

        print(f"wrote {write_markdown(args.markdown)}")
        return 0
    from attnlab.report import build_report

    for path in build_report(args.out, args.runs):
        print(f"wrote {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Every experiment's quick profile, run live, then the report with the reference results."""
    from pathlib import Path

    from tqdm import tqdm

    from attnlab.experiments import EXPERIMENTS, run_experiment
    from attnlab.report import agrees, build_report, reference_result

    runs = Path(args.out) / "runs"
    stages = tqdm(EXPERIMENTS.values(), desc="demo", unit="experiment")
    compared = agreeing = 0
    for exp in stages:
        stages.set_postfix_str(exp.name)
        result = run_experiment(
            exp, args.profile, runs, seeds=args.seed, threads=_threads(args, exp), force=True
        )
        reference = reference_result(exp.name)
        if reference is None:
            note = "no reference yet"
        else:
            compared += 1
            same = agrees(reference, result)
            agreeing += same
            note = f"reference: {reference.verdict}, {'agrees' if same else 'differs'}"
        tqdm.write(f"[{exp.lesson}] {exp.name} ({result.wall_time_s:.1f} s): {result.verdict} ({note})")
    pages = build_report(args.out, runs)
    print(f"\n{args.profile} verdicts agreeing with the reference: {agreeing} of {compared} with a reference")
    if agreeing < compared and args.profile != "full":
        print(
            f"({args.profile} profiles train smaller models for less time: a different verdict is expected)"
        )
    print(f"report: {pages[0]} (中文: {pages[1]})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from attnlab.app.show import run

    return run(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from attnlab.serve import run

    return run(args)


def _add_seed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed", type=int, action="append", default=None, metavar="S",
        help="run this seed (repeatable; default: the profile's seeds, 3 for full, 1 otherwise)",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=int, default=None,
        help="torch threads per run (default: 1 for full profiles of experiments that do not time the "
        "machine, torch's default otherwise); recorded",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from attnlab import __version__

    parser = argparse.ArgumentParser(
        prog="attnlab",
        description="Attention mechanisms, implemented once, checked against an oracle, trained and shown.",
    )
    parser.add_argument("--version", action="version", version=f"attnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list attention backends, masks, score mods and position encodings")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "demo", help="run every experiment's quick profile and write the report beside the reference results"
    )
    p.add_argument("--out", default="attnlab-report", help="report folder (default: attnlab-report)")
    p.add_argument("--profile", default="quick", choices=["smoke", "quick", "full"])
    _add_seed_arguments(p)
    p.set_defaults(func=cmd_demo)

    from attnlab.experiments import EXPERIMENTS

    p = sub.add_parser("run", help="run one experiment (a course claim) and write results.json and figures")
    p.add_argument(
        "name", choices=list(EXPERIMENTS), metavar="NAME", help=f"one of: {', '.join(EXPERIMENTS)}"
    )
    p.add_argument("--profile", default="quick", choices=["smoke", "quick", "full"])
    p.add_argument("--out", default="attnlab-runs", help="runs folder (default: attnlab-runs)")
    _add_seed_arguments(p)
    p.add_argument(
        "--force", action="store_true", help="rerun seeds already in the runs folder (default: skip them)"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "report", help="build the HTML report: the reference results, and your runs next to them"
    )
    p.add_argument("--runs", default="attnlab-runs", help="runs folder (default: attnlab-runs)")
    p.add_argument("--out", default="attnlab-report", help="report folder (default: attnlab-report)")
    p.add_argument(
        "--markdown", default=None, metavar="PATH",
        help="instead, write the Markdown page of the reference results to PATH (docs/results.md)",
    )  # fmt: skip
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("bench", help="run a benchmark and print its table")
    bench_sub = p.add_subparsers(dest="suite", metavar="SUITE", required=True)
    from attnlab.bench import attention, efficient

    for suite, help_text in (
        (attention, "dense backends vs direct SDPA: time, GFLOP/s, memory"),
        (efficient, "local, block-sparse, linear, Performer vs dense SDPA"),
    ):
        b = bench_sub.add_parser(suite.__name__.rsplit(".", 1)[1], help=help_text, description=suite.__doc__)
        suite.add_arguments(b)
        b.set_defaults(func=cmd_bench)

    p = sub.add_parser("show", help="one attention map of a model on a text: PNG heatmap + terminal view")
    p.add_argument("model", help="a demo model (coffee-qa, dates-bahdanau), minilm, or a checkpoint folder")
    p.add_argument("text", help="the input text")
    p.add_argument("--layer", type=int, default=None, help="layer index (default: the last)")
    p.add_argument("--head", type=int, default=None, help="head index (default: the mean of all heads)")
    p.add_argument("--kind", choices=["encoder", "decoder", "cross", "pooling"], default=None)
    p.add_argument("--out", default="attnlab-out/show.png", help="PNG file (default: attnlab-out/show.png)")
    p.add_argument("--max-tokens", type=int, default=128, help="refuse longer texts (default 128)")
    p.add_argument("--models", default=None, help="a folder of training runs whose names MODEL may use")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("serve", help="local web explorer of attention maps (http://127.0.0.1:8765)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free port)")
    p.add_argument("--models", default=None, help="a folder of training runs to offer besides the demos")
    p.add_argument("--max-tokens", type=int, default=128, help="longest text accepted (default 128)")
    p.set_defaults(func=cmd_serve)

    _add_optional_commands(sub)
    return parser


def _add_optional_commands(sub) -> None:
    """Commands contributed by other parts of the package (each module exposes ``add_parser``)."""
    from attnlab.app import inference, train
    from attnlab.data import cli as data_cli

    data_cli.add_parser(sub)
    train.add_parser(sub)
    inference.add_parsers(sub)


def main(argv: list[str] | None = None) -> int:
    from attnlab.bench.timing import tame_malloc

    tame_malloc()  # long tile loops otherwise fragment glibc's heap (see tame_malloc)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, FileNotFoundError) as e:
        if os.environ.get("ATTNLAB_DEBUG"):
            traceback.print_exc()
        print(f"attnlab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `attnlab list | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug: say so plainly, keep the traceback one variable away
        if os.environ.get("ATTNLAB_DEBUG"):
            raise
        print(
            f"attnlab {args.command}: internal error: {type(e).__name__}: {e}\n"
            "(run again with ATTNLAB_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
