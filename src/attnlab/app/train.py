"""``attnlab train TASK --model MODEL``: train a model family on a task with the full trainer.

The top-level CLI registers this with ``attnlab.app.train.add_parser(subparsers)``; the command
sets ``func=run``. ``--nproc N`` relaunches the same command under torchrun in N processes (data
parallel, gloo on CPU / nccl on GPU); ``--resume`` continues from the newest checkpoint in ``--out``
(bit-identical to an uninterrupted run when ``--steps`` is unchanged; a new ``--steps`` stretches the
learning-rate schedule, and the command says so). ``--threads`` (or ``ATTNLAB_THREADS``) sets the
torch threads, otherwise chosen by :mod:`attnlab.threads`; the choice is printed and written into
``metrics.jsonl`` (the ``start`` record). Each checkpoint holds ``recipe.json`` (task, tokenizer,
labels) beside the weights, so the model can be rebuilt and evaluated later without the training
command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from attnlab.training.config import SCHEDULES, TrainConfig

from .errors import UsageError

# (flag, TrainConfig field or None, type, help): one table drives the parser, the config and the
# command line handed to torchrun's workers, so the three cannot drift apart.
_OPTIONS = [
    ("--out", "out_dir", str, "run folder: checkpoints, metrics.jsonl (default runs/TASK-MODEL)"),
    ("--steps", "max_steps", int, "optimiser updates (default 1000)"),
    ("--batch-size", "batch_size", int, "global batch, split over processes (default 32)"),
    ("--lr", "lr", float, "peak learning rate (default 3e-4)"),
    ("--weight-decay", "weight_decay", float, "AdamW weight decay on matrices (default 0.01)"),
    ("--warmup", "warmup_steps", int, "linear warmup steps (default 0)"),
    ("--schedule", "schedule", str, f"one of {', '.join(SCHEDULES)} (default cosine)"),
    ("--grad-clip", "grad_clip", float, "max gradient norm, 0 = off (default 1.0)"),
    ("--label-smoothing", "label_smoothing", float, "label smoothing (default 0)"),
    ("--eval-every", "eval_every", int, "evaluate every k steps (default: only at the end)"),
    ("--metric", "metric", str, "evaluation metric for best/ and early stopping (default loss)"),
    ("--mode", "mode", str, "min or max: which direction of --metric is better (default min)"),
    ("--patience", "early_stopping_patience", int, "stop after this many evaluations without gain"),
    ("--checkpoint-every", "checkpoint_every", int, "checkpoint every k steps (default: at the end)"),
    ("--seed", "seed", int, "seed of data, initialisation and dropout (default 0)"),
    ("--device", "device", str, "auto, cpu or cuda (default auto)"),
    ("--config", None, str, "a TrainConfig JSON file; other options override its fields"),
    ("--train-size", None, int, "training examples generated for the recipe (default 2000)"),
    ("--eval-size", None, int, "held-out examples per evaluation (default 200)"),
    ("--nproc", None, int, "processes for data-parallel training via torchrun (default 1)"),
    ("--threads", None, int, "torch threads per process (default: $ATTNLAB_THREADS, else the CPUs this "
     "process may use divided among --nproc, 1 when the machine is already busy); printed, logged"),
]  # fmt: skip


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``train``."""
    p = subparsers.add_parser(
        "train",
        help="train a model on a task (checkpoints, resume, early stopping, --nproc for DDP)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("task", help="a task or dataset name (see `attnlab data list`)")
    p.add_argument("--model", required=True, help="model family, e.g. transformer-lm, rnn-seq2seq")
    for flag, _, kind, text in _OPTIONS:
        p.add_argument(flag, type=kind, default=None, help=text)
    p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE", help="task parameter")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE", help="model config field")
    p.add_argument(
        "--resume", action="store_true",
        help="continue from the newest checkpoint in --out (bit-identical only with the same --steps)",
    )  # fmt: skip
    p.add_argument(
        "--quiet", action="store_true", help="no progress (bar or log lines) and no slowdown warning"
    )
    p.set_defaults(func=run)
    return p


def _pairs(items: list[str], what: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what}: expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _worker_argv(args: argparse.Namespace) -> list[str]:
    """The same command without ``--nproc``, for each torchrun worker."""
    argv = ["train", args.task, "--model", args.model]
    for flag, _, _, _ in _OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None and flag != "--nproc":
            argv += [flag, str(value)]
    for item in args.param:
        argv += ["--param", item]
    for item in args.model_arg:
        argv += ["--model-arg", item]
    return argv + (["--resume"] if args.resume else []) + (["--quiet"] if args.quiet else [])


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig: defaults, then ``--config`` file, then explicit options."""
    if args.config and not os.path.isfile(args.config):
        raise UsageError(f"--config: {args.config} is not a file (expected a TrainConfig JSON file)")
    base = TrainConfig.load(args.config).to_dict() if args.config else {}
    for flag, name, _, _ in _OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if name is not None and value is not None:
            base[name] = value
    base.setdefault("out_dir", f"runs/{args.task}-{args.model}")
    try:
        return TrainConfig.from_dict(base)
    except ValueError as e:  # name the flag, not only the config field ("--steps (max_steps): ...")
        flags = {name: flag for flag, name, _, _ in _OPTIONS if name is not None}
        field, sep, rest = str(e).partition(":")
        raise UsageError(f"{flags[field]} ({field}):{rest}" if sep and field in flags else str(e)) from None


def _check_out_dir(args: argparse.Namespace, config: TrainConfig) -> tuple[int, int] | None:
    """Refuse a fresh run into a folder with checkpoints, and a resumption of another task, model or
    config; when resuming, ``(step, saved --steps)`` of the checkpoint it continues from (None when
    there is none: a fresh start)."""
    from attnlab.training import latest_checkpoint
    from attnlab.training.checkpoint import read_trainer_state
    from attnlab.training.config import RESUMABLE_CHANGES

    from .recipes import RECIPE_FILE

    latest = latest_checkpoint(config.out_dir)
    if latest is None:
        return None
    if not args.resume:
        raise UsageError(
            f"--out: {config.out_dir} already has checkpoints (up to {latest.name}): add --resume to "
            "continue that run, or choose another --out"
        )
    state = read_trainer_state(latest)
    try:
        saved = json.loads((latest / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    if saved and (saved.get("task"), saved.get("model")) != (args.task, args.model):
        raise UsageError(
            f"--resume: {config.out_dir} holds a {saved.get('model')} trained on {saved.get('task')}, not a "
            f"{args.model} on {args.task}: use the same task and --model, or another --out"
        )
    changed = TrainConfig.from_dict(state["config"]).differences(config)
    changed = {k: v for k, v in changed.items() if k not in RESUMABLE_CHANGES}
    if changed:
        what = ", ".join(f"{k} {a!r} then, {b!r} now" for k, (a, b) in sorted(changed.items()))
        raise UsageError(
            f"--resume: {config.out_dir} was trained with other options ({what}); resuming would not "
            "continue the same run: use the same options, or another --out"
        )
    return int(state["step"]), int(state["config"]["max_steps"])


def _resume_notice(resumed: tuple[int, int] | None, max_steps: int) -> str | None:
    if resumed is None:
        return None
    step, saved = resumed
    if step >= max_steps:
        return (
            f"attnlab train: the checkpoint is at step {step}, already >= --steps {max_steps}: nothing to do"
        )
    if saved == max_steps:
        return (
            f"attnlab train: resuming at step {step} of {max_steps} (bit-identical to an uninterrupted run)"
        )
    return (
        f"attnlab train: resuming at step {step} with --steps {max_steps} instead of {saved}: the "
        f"learning-rate schedule now runs to step {max_steps}, so the result is not bit-identical to an "
        f"uninterrupted {max_steps}-step run; {max_steps - step} new step(s)"
    )


def _launch(args: argparse.Namespace, nproc: int) -> int:
    """Check what can be checked here, then run ``nproc`` workers under torchrun."""
    from attnlab.threads import choose
    from attnlab.training import distributed as D

    config = build_config(args)
    notice = _resume_notice(_check_out_dir(args, config), config.max_steps)
    if notice:
        print(notice, file=sys.stderr)
    if args.threads is None and not os.environ.get("ATTNLAB_THREADS", "").strip():
        args.threads = max(1, choose().threads // nproc)  # the machine's share of each worker
    return D.launch(nproc, _worker_argv(args), module="attnlab.cli")


def run(args: argparse.Namespace) -> int:
    """Train (or relaunch under torchrun); prints where the results are."""
    import torch

    from attnlab.progress import on_slowdown
    from attnlab.threads import configure, yield_cpus
    from attnlab.training import distributed as D

    if args.nproc is not None and args.nproc < 1:
        raise UsageError(f"--nproc: expected >= 1, got {args.nproc}")
    nproc = args.nproc or 1
    if nproc > 1 and not D.in_torchrun():
        return _launch(args, nproc)
    from attnlab.training import Trainer, seed_everything

    from .recipes import Recipe, RecipeTask

    config = build_config(args)
    resumed = _check_out_dir(args, config) if config.out_dir else None
    choice = configure(args.threads, quiet=os.environ.get("RANK", "0") != "0", adaptive=True)
    notice = _resume_notice(resumed, config.max_steps)
    if notice and not D.in_torchrun():
        print(notice, file=sys.stderr)
    seed_everything(config.seed)  # the recipe's data and the model's initial weights
    recipe = Recipe.create(
        args.task,
        args.model,
        seed=config.seed,
        train_size=args.train_size or 2000,
        **_pairs(args.param, "--param"),
    )
    model = recipe.build_model(**_pairs(args.model_arg, "--model-arg"))

    recipe_json = json.dumps(recipe.to_dict(), ensure_ascii=False, indent=1)
    trainer = Trainer(
        model,
        RecipeTask(recipe, args.eval_size or 200),
        config,
        resume=args.resume,
        quiet=args.quiet,
        extra_files={"recipe.json": recipe_json},
        log_info=choice.record(),
    )

    def fewer_threads() -> str:  # after a sharp slowdown, automatic threads continue with the free CPUs
        said = yield_cpus()
        if said:
            trainer.log.write(trainer.step, "threads", threads=torch.get_num_threads(), why="slowdown")
        return said

    on_slowdown(fewer_threads)
    try:
        result = trainer.fit()
    finally:
        on_slowdown(None)
        D.teardown()
    if trainer.info.is_main:
        best = (
            f", best {config.metric} {result.best_metric:.4g} at step {result.best_step}"
            if result.best_step
            else ""
        )
        stop = " (early stop)" if result.stopped_early else ""
        where = f"checkpoints in {config.out_dir}"
        new = result.step - result.start_step
        steps = (
            f"{new} steps"
            if not result.start_step
            else f"{new} new steps (from step {result.start_step} to {result.step})"
        )
        print(f"trained {steps}{stop} in {result.seconds:.1f} s{best}; {where}")
    return 0
