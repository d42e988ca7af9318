import random

import pytest
import torch
from torch import nn

from attnlab.training import (
    CheckpointError,
    EpochSampler,
    FunctionTask,
    TrainConfig,
    Trainer,
    classification_loss,
    load_checkpoint,
    metric_series,
    read_metrics,
    seed_everything,
)


def batch(step, batch_size):
    g = torch.Generator().manual_seed(step)
    x = torch.randn(batch_size, 6, generator=g)
    return {"x": x, "y": (x[:, 0] > 0).long()}


def loss(model, b, label_smoothing=0.0):
    x = b["x"] * (1.0 + 0.1 * random.random())  # draws from Python's generator: resume must restore it
    return classification_loss(model(x), b["y"], label_smoothing)


def make(dropout=0.2):
    seed_everything(3)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))


def config(tmp_path, **kw):
    base = dict(lr=1e-2, warmup_steps=2, max_steps=12, batch_size=8, checkpoint_every=1, log_every=2)
    return TrainConfig(out_dir=str(tmp_path), device="cpu", **{**base, **kw})


def evaluate(model):
    held = batch(999, 64)
    out, m = classification_loss(model(held["x"]), held["y"])
    return {"loss": out.item(), **m}


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    task = FunctionTask(batch, loss, evaluate, tokens_fn=lambda b: b["x"].numel())
    ref = make()
    Trainer(ref, task, config(tmp_path / "ref", eval_every=3, label_smoothing=0.1), quiet=True).fit()

    class Crash(Exception):
        pass

    def crash(folder, step):
        if step == 5:
            raise Crash

    with pytest.raises(Crash):
        cfg = config(tmp_path / "run", eval_every=3, label_smoothing=0.1)
        Trainer(make(), task, cfg, quiet=True, on_checkpoint=crash).fit()
    torch.manual_seed(123)  # the resumed process starts from other generator states
    random.seed(123)
    model = make()
    result = Trainer(model, task, cfg, resume=True, quiet=True).fit()
    assert result.step == 12
    for (k, a), b in zip(ref.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), k
    # The log reads as if the run had never stopped: one train record per logged step.
    steps = metric_series(tmp_path / "run" / "metrics.jsonl", "train")["step"]
    assert steps == [2, 4, 6, 8, 10, 12]
    assert metric_series(tmp_path / "ref" / "metrics.jsonl", "eval")["step"] == [3, 6, 9, 12]


def test_metrics_log_is_readable_for_plots(tmp_path):
    task = FunctionTask(batch, loss, evaluate, tokens_fn=lambda b: b["x"].numel())
    Trainer(make(), task, config(tmp_path, eval_every=4), quiet=True).fit()
    records = read_metrics(tmp_path / "metrics.jsonl")
    train = [r for r in records if r["split"] == "train"]
    assert {"step", "loss", "accuracy", "lr", "time", "examples_per_s", "tokens_per_s"} <= set(train[0])
    cols = metric_series(tmp_path / "metrics.jsonl", "eval")
    assert cols["step"] == [4, 8, 12] and len(cols["accuracy"]) == 3
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 13, "spl')  # a line torn by a kill is skipped
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == len(records)


def test_early_stopping_triggers_and_keeps_best(tmp_path):
    scores = iter([1.0, 0.5, 0.6, 0.7, 0.4, 0.3])

    def scripted_eval(model):
        return {"loss": next(scores)}

    task = FunctionTask(batch, loss, scripted_eval)
    cfg = config(tmp_path, max_steps=100, eval_every=2, early_stopping_patience=2, checkpoint_every=0)
    result = Trainer(make(), task, cfg, quiet=True).fit()
    assert result.stopped_early and result.step == 8
    assert result.best_metric == 0.5 and result.best_step == 4
    best = load_checkpoint(tmp_path / "best", make())
    assert best.state["step"] == 4 and best.state["best"]["value"] == 0.5
    last = load_checkpoint(tmp_path / "checkpoints" / "step-00000008")
    assert last.state["early_stopping"]["bad_evals"] == 2


def test_maximised_metric(tmp_path):
    scores = iter([0.1, 0.2, 0.2, 0.2])
    task = FunctionTask(batch, loss, lambda m: {"accuracy": next(scores)})
    cfg = config(tmp_path, max_steps=8, eval_every=2, metric="accuracy", mode="max")
    result = Trainer(make(), task, cfg, quiet=True).fit()
    assert result.best_metric == 0.2 and result.best_step == 4 and not result.stopped_early


def test_refusals(tmp_path):
    task = FunctionTask(batch, lambda model, b: classification_loss(model(b["x"]), b["y"]))
    with pytest.raises(ValueError, match="label_smoothing"):
        Trainer(make(), task, config(tmp_path, label_smoothing=0.1))
    with pytest.raises(ValueError, match="evaluate"):
        Trainer(make(), task, config(tmp_path, eval_every=2))
    Trainer(make(), task, config(tmp_path, max_steps=2), quiet=True).fit()
    with pytest.raises(ValueError, match="already has checkpoints"):
        Trainer(make(), task, config(tmp_path, max_steps=2), quiet=True).fit()
    with pytest.raises(CheckpointError, match="different config.*lr"):
        Trainer(make(), task, config(tmp_path, max_steps=4, lr=0.5), resume=True, quiet=True).fit()
    result = Trainer(make(), task, config(tmp_path, max_steps=4), resume=True, quiet=True).fit()
    assert result.step == 4  # a longer max_steps is allowed: the run goes on


def test_epoch_sampler_positions():
    s = EpochSampler(10, seed=1)
    stream = [i for step in range(5) for i in s.indices(step, 4)]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    assert stream[:10] != stream[10:20]
    assert s.position(3, 4) == (1, 2)
    assert EpochSampler(10, seed=1).indices(3, 4) == stream[12:16]
