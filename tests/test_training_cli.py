import argparse

import pytest

from attnlab.app import train as cli
from attnlab.training import load_checkpoint


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="attnlab")
    cli.add_parser(p.add_subparsers(dest="command"))
    return p


def test_worker_command_is_the_same_command_without_nproc():
    argv = ["train", "copy", "--model", "transformer-lm", "--steps", "5", "--lr", "0.001", "--nproc", "2"]
    argv += ["-p", "length=[3,5]", "--model-arg", "d_model=16", "--resume"]
    args = parser().parse_args(argv)
    again = parser().parse_args(cli._worker_argv(args))
    assert again.nproc is None
    assert {**vars(args), "nproc": None, "func": None} == {**vars(again), "func": None}
    cfg = cli.build_config(args)
    assert cfg.max_steps == 5 and cfg.lr == 0.001 and cfg.out_dir == "runs/copy-transformer-lm"


def test_bad_pairs_are_named():
    with pytest.raises(ValueError, match="--param"):
        cli._pairs(["length"], "--param")
    assert cli._pairs(["a=[1,2]", "b=x"], "--param") == {"a": [1, 2], "b": "x"}


@pytest.mark.slow
def test_train_then_resume_writes_loadable_checkpoints(tmp_path):
    from attnlab.app.recipes import Recipe
    from attnlab.models import load_model

    out = tmp_path / "run"
    argv = ["train", "coffee-shop", "--model", "transformer-classifier", "--out", str(out)]
    argv += ["--batch-size", "4", "--train-size", "40", "--eval-size", "4"]
    argv += ["--model-arg", "d_model=16", "--model-arg", "num_layers=1"]
    argv += ["--quiet", "--checkpoint-every", "2"]
    args = parser().parse_args([*argv, "--steps", "2"])
    assert args.func(args) == 0
    args = parser().parse_args([*argv, "--steps", "4", "--resume"])
    assert args.func(args) == 0
    ckpt = load_checkpoint(out / "checkpoints" / "step-00000004")
    assert ckpt.state["step"] == 4
    model = load_model(out / "best")  # attnlab.models reads the checkpoint's weights and config
    recipe = Recipe.load(out / "best")
    assert recipe.task == "coffee-shop" and sum(p.numel() for p in model.parameters()) > 0
