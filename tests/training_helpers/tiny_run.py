"""A tiny training run for the subprocess tests (SIGKILL + resume, torchrun DDP).

It draws from every generator a real run can: dropout (torch), input noise (numpy's global
generator) and feature masking (Python's ``random``), so a resume that forgot any of them would end
with different weights. Prints ``CKPT <step>`` after each complete checkpoint.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

import numpy as np
import torch
from torch import nn

from attnlab.training import FunctionTask, TrainConfig, Trainer, classification_loss, seed_everything
from attnlab.training.distributed import teardown


def make_model(dropout: float) -> nn.Module:
    return nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Dropout(dropout), nn.Linear(32, 4))


def batch(step: int, batch_size: int) -> dict:
    g = torch.Generator().manual_seed(1000 + step)  # the data position is the step
    x = torch.randn(batch_size, 8, generator=g)
    return {"x": x, "y": x[:, :4].argmax(-1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=None)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--checkpoint-every", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--noise", action="store_true", help="draw from numpy and Python generators too")
    p.add_argument("--sleep", type=float, default=0.0, help="seconds per step (widens the kill window)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--stop-after", type=int, default=None, help="exit abruptly after this checkpoint")
    p.add_argument("--save-final", default=None, help="write the final weights here (safetensors)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    def loss(model, b, label_smoothing=0.0):
        x = b["x"]
        if args.noise:
            x = x + torch.from_numpy(np.random.normal(0, 0.1, size=tuple(x.shape)).astype(np.float32))
            x = x * (1.0 if random.random() < 0.5 else 0.9)
        if args.sleep:
            time.sleep(args.sleep)
        return classification_loss(model(x), b["y"], label_smoothing)

    held_out = batch(10**6, 64)

    def evaluate(model):
        out, metrics = classification_loss(model(held_out["x"]), held_out["y"])
        return {"loss": out.item(), **metrics}

    cfg = TrainConfig(
        lr=3e-3,
        warmup_steps=5,
        max_steps=args.steps,
        batch_size=args.batch_size,
        label_smoothing=0.1,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        log_every=5,
        out_dir=args.out,
        keep_last=2,
        seed=7,
        device="cpu",
    )
    seed_everything(cfg.seed)
    model = make_model(args.dropout)

    def on_checkpoint(folder, step):
        print(f"CKPT {step}", flush=True)
        if step == args.stop_after:
            os._exit(3)  # no clean-up, like a crash (torchrun then stops the other workers)

    task = FunctionTask(batch, loss, evaluate)
    trainer = Trainer(model, task, cfg, resume=args.resume, quiet=True, on_checkpoint=on_checkpoint)
    result = trainer.fit()
    if args.save_final and trainer.info.is_main:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.save_final)
    teardown()
    print(f"DONE {result.step}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
