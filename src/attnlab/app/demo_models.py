"""Built-in demo models for ``attnlab show`` / ``serve``: attnlab recipes trained once on first use.

Each is trained through the ordinary recipe and trainer into a temporary folder renamed into place
(atomic), and cached under ``$ATTNLAB_CACHE/demo-models`` keyed by everything the weights depend on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

DEMO_STEPS_ENV = "ATTNLAB_DEMO_STEPS"  # fewer training steps for the demo models (tests)
COFFEE_SENTENCE = "我昨天去了一家咖啡店，点了一杯拿铁……然后我从咖啡店出来，回家了。我去了哪里？"
# The course's own questions: where did I go (first / now), and how many times (几次).
COFFEE_QUESTIONS = ["first", "now", "where", "times"]


@dataclass
class DemoModel:
    """A built-in model: an attnlab recipe trained for ``steps`` steps on first use, then cached."""

    task: str
    family: str
    steps: int
    task_params: dict
    model_args: dict
    description: str
    example: str


DEMO_MODELS = {
    "coffee-qa": DemoModel(
        "coffee-shop", "transformer-classifier", 400, {"questions": COFFEE_QUESTIONS, "ellipsis": 0.25},
        {"d_model": 32, "num_heads": 4, "num_layers": 2, "pooling": "attention"},
        "Transformer classifier (2 layers, 4 heads, attention pooling) answering the course's coffee-shop "
        "questions in Chinese (where did I go first, where am I now, how many times); trained on first "
        "use (400 steps, 20-60 s on one core), then cached",
        COFFEE_SENTENCE,
    ),
    "dates-bahdanau": DemoModel(
        "dates", "rnn-seq2seq", 400, {}, {"hidden_size": 64, "embed_dim": 32, "attention": "bahdanau"},
        "GRU encoder-decoder with Bahdanau attention translating dates (en/fr/de/zh) to ISO; "
        "trained on first use (400 steps, 15-50 s on one core), then cached",
        "Thursday, 25 March 2021",
    ),
}  # fmt: skip


def demo_folder(name: str) -> Path:
    from attnlab.data.cache import cache_dir

    spec = {k: v for k, v in asdict(DEMO_MODELS[name]).items() if k not in ("description", "example")}
    spec["steps"] = int(os.environ.get(DEMO_STEPS_ENV) or spec["steps"])  # what the weights depend on
    key = hashlib.sha256(json.dumps({"v": 1, **spec}, sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir() / "demo-models" / f"{name}-{key}"


_LOCKS_LOCK = threading.Lock()
_TRAIN_LOCKS: dict[str, threading.Lock] = {}  # one per demo: training one never blocks the other


def _train_lock(name: str) -> threading.Lock:
    with _LOCKS_LOCK:
        return _TRAIN_LOCKS.setdefault(name, threading.Lock())


def ensure_demo(name: str) -> Path:
    """The run folder of demo model ``name``, training it first if it is not cached yet.

    Training writes into a temporary folder that is renamed into place when complete, so a crash or
    a second process never leaves (or trusts) a half-trained model."""
    from attnlab.training import TrainConfig, Trainer, latest_checkpoint, seed_everything

    from .recipes import RECIPE_FILE, Recipe, RecipeTask

    final = demo_folder(name)
    with _train_lock(name):
        if latest_checkpoint(final) is not None:
            return final
        spec = DEMO_MODELS[name]
        steps = int(os.environ.get(DEMO_STEPS_ENV) or spec.steps)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"attnlab: training demo model {name} once ({steps} steps) into {final}", file=sys.stderr)
        seed_everything(0)
        recipe = Recipe.create(spec.task, spec.family, seed=0, **spec.task_params)
        model = recipe.build_model(**spec.model_args)
        config = TrainConfig(lr=3e-3, warmup_steps=max(1, steps // 10), max_steps=steps, batch_size=32)
        config.out_dir, config.device = str(tmp), "cpu"  # where and how, not what: no validation needed
        recipe_json = json.dumps(recipe.to_dict(), ensure_ascii=False, indent=1)
        trainer = Trainer(
            model, RecipeTask(recipe, 50), config, quiet=True, extra_files={RECIPE_FILE: recipe_json}
        )
        trainer.fit()
        try:
            os.rename(tmp, final)  # atomic; fails if another process finished first: use theirs
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
