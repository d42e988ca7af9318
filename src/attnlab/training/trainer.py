"""One trainer for every model and task: AdamW, warmup + decay, clipping, evaluation, early stopping,
checkpoints that resume bit for bit, progress (a bar on a terminal, log lines otherwise), metrics
log, and data parallelism.

Usage::

    seed_everything(cfg.seed)                 # before building the model: initial weights too
    model = build_my_model()
    result = Trainer(model, task, cfg).fit()  # task: see attnlab.training.protocols.Task

With ``cfg.out_dir`` set, ``Trainer(..., resume=True)`` continues from the newest checkpoint there
(or starts fresh if there is none) and ends with the same weights as a run that was never stopped,
as long as nothing but where and how often it writes changed; resuming with another ``max_steps``
is allowed but stretches the learning-rate schedule, so it is not the same run (see
:attr:`Trainer.resumed_from`).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from attnlab.progress import progress

from . import distributed as D
from . import run_folder as rf
from .checkpoint import TRAINER_FILE, CheckpointError, load_checkpoint, read_trainer_state, save_checkpoint
from .config import RESUMABLE_CHANGES, TrainConfig
from .metrics_log import MetricsLog
from .optimizer import adamw
from .protocols import Task
from .schedules import load_scheduler_state, make_scheduler, scheduler_state
from .seed import capture_rng, restore_rng, seed_everything


@dataclass
class TrainResult:
    """How a run ended: steps done, whether early stopping ended it, the best evaluation."""

    step: int
    stopped_early: bool = False
    best_metric: float | None = None
    best_step: int | None = None
    last_eval: dict = field(default_factory=dict)
    train_loss: float | None = None
    seconds: float = 0.0
    out_dir: Path | None = None
    start_step: int = 0  # where this fit began (the checkpoint's step when resumed)


class Trainer:
    """Train ``model`` on ``task`` with ``config``.

    Args:
        model: any ``nn.Module``; moved to the run's device.
        task: a :class:`~attnlab.training.protocols.Task` (``batch``, ``loss``, optional ``evaluate``).
        config: the :class:`TrainConfig`.
        model_config: JSON saved as ``config.json`` in checkpoints (default: ``model.config`` if it is
            a dataclass, so attnlab models can be reloaded with ``attnlab.models.load_model``).
        resume: False (fresh run; refuses an ``out_dir`` that has checkpoints), True (continue from
            the newest checkpoint in ``out_dir`` if there is one) or a checkpoint path.
        allow_config_change: resume even if the saved config differs in fields that change the result.
        quiet: no progress display (a bar on a terminal, a log line every few seconds otherwise; see
            :mod:`attnlab.progress`) and no slowdown warning.
        on_checkpoint: called with ``(folder, step)`` after each checkpoint is complete (main process).
        find_unused_parameters: passed to DDP for models whose forward skips some parameters.
        extra_files: files (name -> text or bytes) to write into every checkpoint, e.g. a recipe.
        log_info: JSON values written into the metrics log's ``start`` record (e.g. the thread
            choice of :mod:`attnlab.threads`); the record always has ``threads``.

    After :meth:`fit` has resumed a run, :attr:`resumed_from` is ``(step, saved max_steps)``.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        config: TrainConfig,
        model_config: dict | None = None,
        resume: bool | str | Path = False,
        allow_config_change: bool = False,
        quiet: bool = False,
        on_checkpoint: Callable[[Path, int], None] | None = None,
        find_unused_parameters: bool = False,
        extra_files: dict[str, str | bytes] | None = None,
        log_info: dict | None = None,
    ):
        if not (callable(getattr(task, "batch", None)) and callable(getattr(task, "loss", None))):
            raise TypeError("task: expected an object with batch(step, batch_size) and loss(model, batch)")
        self.task, self.config, self.quiet, self.on_checkpoint = task, config, quiet, on_checkpoint
        self.resume, self.allow_config_change = resume, allow_config_change
        self.find_unused_parameters, self.extra_files = find_unused_parameters, extra_files
        self.log_info, self.resumed_from = dict(log_info or {}), None
        self.info = D.setup(config.device)
        if config.batch_size % self.info.world_size:
            raise ValueError(
                f"batch_size {config.batch_size} is not divisible by {self.info.world_size} processes"
            )
        if config.eval_every and not callable(getattr(task, "evaluate", None)):
            raise ValueError("eval_every > 0 but the task has no evaluate(model)")
        if config.early_stopping_patience and not callable(getattr(task, "evaluate", None)):
            raise ValueError("early_stopping_patience > 0 but the task has no evaluate(model)")
        self.loss_kwargs = {}
        if config.label_smoothing:
            params = inspect.signature(getattr(task, "loss_fn", task.loss)).parameters  # FunctionTask: its fn
            if "label_smoothing" not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
                raise ValueError("label_smoothing > 0 but the task's loss takes no label_smoothing argument")
            self.loss_kwargs["label_smoothing"] = config.label_smoothing
        if model_config is None and hasattr(getattr(model, "config", None), "__dataclass_fields__"):
            import dataclasses

            to_dict = getattr(model.config, "to_dict", None)  # e.g. TransformerConfig's JSON layout
            model_config = to_dict() if to_dict is not None else dataclasses.asdict(model.config)
        self.model_config = model_config
        self.model = model.to(self.info.device)
        self.optimizer = adamw(self.model, config)
        self.scheduler = make_scheduler(self.optimizer, config)
        self.out_dir = Path(config.out_dir) if config.out_dir else None
        main_log = self.out_dir / rf.METRICS_FILE if self.out_dir is not None and self.info.is_main else None
        self.log = MetricsLog(main_log)
        self.step, self.best, self.best_step, self.bad_evals = 0, None, None, 0
        self.last_eval: dict = {}

    # -- state -----------------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything besides tensors that a resumed run needs (goes into ``trainer.json``)."""
        data = {"step": self.step}
        if callable(getattr(self.task, "state_dict", None)):
            data["source"] = self.task.state_dict()
        return {
            "step": self.step,
            "data": data,
            "scheduler": scheduler_state(self.scheduler),
            "best": {"metric": self.config.metric, "value": self.best, "step": self.best_step},
            "early_stopping": {"bad_evals": self.bad_evals, "patience": self.config.early_stopping_patience},
            "last_eval": self.last_eval,
            "world_size": self.info.world_size,
            "config": self.config.to_dict(),
        }

    def save(self, folder: Path) -> Path:
        """Write a checkpoint of the current state (every process must call it: RNG states gather)."""
        json_part, tensors = capture_rng()
        everyone = D.gather_objects((json_part, {k: v.tolist() for k, v in tensors.items()}), self.info)
        rng = [(j, {k: torch.tensor(v, dtype=torch.uint8) for k, v in t.items()}) for j, t in everyone]
        if self.info.is_main:
            save_checkpoint(
                folder, self.model, self.optimizer, self.state(), rng, self.model_config, self.extra_files
            )
        D.barrier(self.info)
        return folder

    def _restore(self, path: Path) -> None:
        s = read_trainer_state(path)  # check the config before any tensor is copied into the model
        saved = TrainConfig.from_dict(s["config"])
        changed = {k: v for k, v in saved.differences(self.config).items() if k not in RESUMABLE_CHANGES}
        if changed and not self.allow_config_change:
            raise CheckpointError(
                f"{path / TRAINER_FILE}: saved with a different config {changed} (saved, now); "
                "resuming would not continue the same run (pass allow_config_change=True to do it anyway)"
            )
        ckpt = load_checkpoint(path, self.model, self.optimizer, verify=False)
        load_scheduler_state(self.scheduler, s["scheduler"])
        self.step = int(s["step"])
        self.resumed_from = (self.step, saved.max_steps)
        self.best, self.best_step = s["best"]["value"], s["best"]["step"]
        self.bad_evals, self.last_eval = s["early_stopping"]["bad_evals"], s.get("last_eval", {})
        if "source" in s["data"] and callable(getattr(self.task, "load_state_dict", None)):
            self.task.load_state_dict(s["data"]["source"])
        if ckpt.rng:
            restore_rng(*ckpt.rng[min(self.info.rank, len(ckpt.rng) - 1)])

    def _start(self) -> None:
        if self.resume is False or self.resume is None:
            if self.out_dir is not None and rf.checkpoint_steps(self.out_dir):
                raise ValueError(f"{self.out_dir} already has checkpoints: resume, or choose another out_dir")
            self._fresh()
            return
        if self.out_dir is not None and self.info.is_main:
            rf.clean_temporaries(self.out_dir)
        D.barrier(self.info)
        if self.resume is True:
            path = rf.latest_checkpoint(self.out_dir) if self.out_dir is not None else None
        else:
            path = rf.resolve_checkpoint(self.resume)
        if path is None:  # nothing to resume: a fresh run
            self._fresh()
            return
        self._restore(path)
        self.log.truncate_after(self.step)

    def _fresh(self) -> None:
        seed_everything(self.config.seed, self.config.deterministic)
        self.log.truncate_after(-1)  # lines of an earlier attempt that died before its first checkpoint

    # -- the loop --------------------------------------------------------------------------------
    def evaluate(self) -> dict:
        """``task.evaluate(model)`` on the main process, in eval mode, shared with every process."""
        metrics = None
        if self.info.is_main:
            was_training = self.model.training
            self.model.eval()
            with torch.no_grad():
                metrics = {k: float(v) for k, v in self.task.evaluate(self.model).items()}
            self.model.train(was_training)
        return D.broadcast_object(metrics, self.info)

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.config.mode == "min":
            return value < self.best - self.config.min_delta
        return value > self.best + self.config.min_delta

    def fit(self) -> TrainResult:
        """Train until ``max_steps`` or early stopping; returns a :class:`TrainResult`."""
        cfg, info = self.config, self.info
        start_time = time.perf_counter()
        self._start()
        start_step = self.step
        self.log.write(self.step, "start", **{"threads": torch.get_num_threads(), **self.log_info})
        if self.out_dir is not None and info.is_main:
            cfg.save(self.out_dir / rf.CONFIG_FILE)
        net = self.model
        if info.distributed:
            ids = [info.device] if info.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=self.find_unused_parameters
            )
        tokens_fn = getattr(self.task, "tokens", None)
        quiet = self.quiet or not info.is_main
        bar = progress(total=cfg.max_steps, initial=self.step, desc="train", quiet=quiet)
        sums: dict[str, float] = {}
        n_sum, examples, tokens, tick = 0, 0, 0, time.perf_counter()
        stopped, last_loss = False, None
        self.model.train()
        while self.step < cfg.max_steps and not stopped:
            lr = self.optimizer.param_groups[0]["lr"]
            batch = self.task.batch(self.step, cfg.batch_size)
            if tokens_fn is not None:
                tokens += int(tokens_fn(batch))
            batch = D.to_device(D.shard_batch(batch, info.rank, info.world_size), info.device)
            loss, metrics = self.task.loss(net, batch, **self.loss_kwargs)
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at step {self.step} (lower the lr or clip harder)")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            for k, v in {"loss": value, **metrics}.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n_sum, examples = n_sum + 1, examples + cfg.batch_size
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                means = D.all_mean({k: v / n_sum for k, v in sums.items()}, info)
                seconds = max(time.perf_counter() - tick, 1e-9)
                rates = {"examples_per_s": examples / seconds}
                if tokens_fn is not None:
                    rates["tokens_per_s"] = tokens / seconds
                last_loss = means["loss"]
                elapsed = time.perf_counter() - start_time
                self.log.write(self.step, "train", **means, lr=lr, time=elapsed, **rates)
                post = {"loss": f"{means['loss']:.4f}", **{k: f"{v:.3g}" for k, v in rates.items()}}
                if cfg.metric in self.last_eval:
                    post[cfg.metric] = f"{self.last_eval[cfg.metric]:.4g}"
                bar.set_postfix(post, refresh=False)
                sums, n_sum, examples, tokens, tick = {}, 0, 0, 0, time.perf_counter()
            with bar.paused():  # evaluation and checkpoints count in no steps/s
                stopped = self._maybe_evaluate(start_time)
                due = cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0
                if self.out_dir is not None and (stopped or due or self.step == cfg.max_steps):
                    self._checkpoint()
        bar.close()
        D.barrier(info)
        return TrainResult(
            self.step,
            stopped,
            self.best,
            self.best_step,
            self.last_eval,
            last_loss,
            time.perf_counter() - start_time,
            self.out_dir,
            start_step,
        )

    def _maybe_evaluate(self, start_time: float) -> bool:
        """Evaluate when due; keep ``best/``; True when early stopping ends the run."""
        cfg = self.config
        can_eval = callable(getattr(self.task, "evaluate", None))
        due = (cfg.eval_every and self.step % cfg.eval_every == 0) or self.step == cfg.max_steps
        if not (can_eval and due):
            return False
        self.last_eval = self.evaluate()
        self.log.write(self.step, "eval", **self.last_eval, time=time.perf_counter() - start_time)
        if cfg.metric not in self.last_eval:
            raise ValueError(f"metric {cfg.metric!r} is not among the evaluation's {sorted(self.last_eval)}")
        value = self.last_eval[cfg.metric]
        if self._improved(value):
            self.best, self.best_step, self.bad_evals = value, self.step, 0
            if self.out_dir is not None:
                self.save(self.out_dir / rf.BEST)
        else:
            self.bad_evals += 1
        return bool(cfg.early_stopping_patience) and self.bad_evals >= cfg.early_stopping_patience

    def _checkpoint(self) -> None:
        folder = self.save(rf.step_dir(self.out_dir, self.step))
        if self.info.is_main:
            rf.set_latest(self.out_dir, folder)
            rf.prune(self.out_dir, self.config.keep_last)
            if self.on_checkpoint is not None:
                self.on_checkpoint(folder, self.step)
        D.barrier(self.info)
