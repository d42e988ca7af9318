"""The trainer's settings: one dataclass, validated on construction, with a JSON round trip.

A run's ``TrainConfig`` is written beside every checkpoint (``trainer.json``) so a resumed run can
check that it continues the same experiment: resuming with a different learning rate or batch size
would silently produce a different model, which is exactly what bit-identical resume must rule out.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

SCHEDULES = ("cosine", "inverse_sqrt", "constant")
MODES = ("min", "max")

# Fields that may differ between a run and its resumption without changing the trained weights
# (where the run writes, how often it logs, or how long it goes on).
RESUMABLE_CHANGES = frozenset({"out_dir", "log_every", "keep_last", "device", "max_steps", "eval_every"})


@dataclass
class TrainConfig:
    """How to train: optimiser, schedule, batch, regularisation, evaluation and checkpoints.

    Optimiser (AdamW, Loshchilov & Hutter 2019): ``lr``, ``weight_decay``, ``betas``, ``eps``.
    Schedule: linear warmup over ``warmup_steps`` to ``lr``, then ``schedule``: ``"cosine"`` (decay to
    ``min_lr_ratio * lr`` at ``max_steps``), ``"inverse_sqrt"`` (Vaswani et al. 2017:
    ``lr * sqrt(warmup / t)``) or ``"constant"``; see :mod:`attnlab.training.schedules`.
    ``batch_size`` is the *global* batch: with DDP every process takes ``batch_size / world_size`` of
    it, so a 2-process run and a 1-process run see the same examples per step.
    ``grad_clip``: maximum global gradient L2 norm (0 disables). ``label_smoothing`` is passed to the
    task's loss (Szegedy et al. 2016). ``eval_every``: evaluate every k steps and at the end (0: only at
    the end, when the task can evaluate). Early stopping: stop after ``early_stopping_patience``
    evaluations without improving ``metric`` (in direction ``mode``) by more than ``min_delta``
    (0 disables). ``checkpoint_every``: write a checkpoint every k steps (0: only at the end) into
    ``out_dir``, keeping the ``keep_last`` newest; the best one by ``metric`` is kept in ``best/``.
    ``seed`` fixes every random number the run draws; ``deterministic`` also asks torch for
    deterministic kernels (``torch.use_deterministic_algorithms``, warnings only).
    """

    lr: float = 3e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    schedule: str = "cosine"
    min_lr_ratio: float = 0.0
    max_steps: int = 1000
    batch_size: int = 32
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    eval_every: int = 0
    metric: str = "loss"
    mode: str = "min"
    early_stopping_patience: int = 0
    min_delta: float = 0.0
    seed: int = 0
    deterministic: bool = False
    checkpoint_every: int = 0
    keep_last: int = 2
    log_every: int = 10
    out_dir: str | None = None
    device: str = "auto"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # JSON gives a list; the optimiser wants a pair
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas: expected two numbers in [0, 1), got {self.betas}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr: expected a positive number, got {self.lr}")
        for name in ("weight_decay", "grad_clip", "min_delta", "eps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio: expected a number in [0, 1], got {self.min_lr_ratio}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing: expected a number in [0, 1), got {self.label_smoothing}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {self.mode!r}")
        for name, low in (("max_steps", 1), ("batch_size", 1), ("keep_last", 1), ("log_every", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
        for name in ("warmup_steps", "eval_every", "early_stopping_patience", "checkpoint_every", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")

    # -- JSON round trip -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The fields as a JSON-compatible dict (``betas`` as a list)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Build from a dict; an unknown field is an error (a typo must not be silently ignored)."""
        if not isinstance(data, dict):
            raise ValueError(f"TrainConfig: expected a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {unknown}; expected some of {sorted(names)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"TrainConfig: not valid JSON ({e})") from e
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        from attnlab._io import atomic_write_text

        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def differences(self, other: TrainConfig) -> dict[str, tuple]:
        """Fields whose values differ, as ``{name: (self_value, other_value)}``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}
