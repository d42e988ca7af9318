"""Recipes: how a data task meets a model — tokenisation, batches, loss, evaluation and inference.

``attnlab train TASK --model MODEL`` builds a :class:`Recipe`; the trainer only sees ``batch(step)``
(deterministic in the step, so a resumed run sees the same data) and ``loss(model, batch)``. The
recipe is saved beside each checkpoint as ``recipe.json`` (tokenizer included), so ``attnlab eval``,
``translate``, ``generate`` and ``classify`` rebuild exactly what the model was trained with.

Model families and what they learn from a task's ``(src, tgt)`` examples:

- ``rnn-seq2seq``, ``transformer-seq2seq``: ``src`` text -> ``tgt`` text (translation-like tasks);
- ``transformer-classifier``: ``src`` text -> one of the task's answers (ListOps values, story answers,
  review labels);
- ``transformer-lm``: the text ``src + tgt`` (e.g. ``"77+54=131"``), next-token prediction; answers
  are generated after the prompt ``src``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.data import generate
from attnlab.data.batching import pad_batch
from attnlab.data.tokenizers import CharTokenizer, Tokenizer, WordTokenizer, tokenizer_from_dict
from attnlab.models import create_model

FAMILIES = {
    "rnn-seq2seq": "seq2seq",
    "transformer-seq2seq": "seq2seq",
    "transformer-classifier": "classify",
    "transformer-lm": "lm",
}
# Tasks whose symbols are characters (digits, Chinese); the others are space-separated words.
CHAR_TASKS = {
    "dates",
    "numbers-zh",
    "numbers-en",
    "addition",
    "addition-scratchpad",
    "stories-zh",
    "coffee-shop",
    "reviews-zh",
}
RECIPE_FILE = "recipe.json"


def as_text(x) -> str:
    """A task field as text: symbol lists (copy, reverse, sort...) become space-separated symbols."""
    return " ".join(map(str, x)) if isinstance(x, (list, tuple)) else str(x)


@dataclass
class Recipe:
    """A task, a model family, a tokenizer and (for classifiers) the label set."""

    task: str
    model: str
    tokenizer: Tokenizer
    labels: list[str] = field(default_factory=list)
    task_params: dict = field(default_factory=dict)
    seed: int = 0
    train_size: int = 2000
    max_len: int = 256

    @property
    def family(self) -> str:
        return FAMILIES[self.model]

    # -- construction and persistence ------------------------------------------------------------
    @staticmethod
    def create(
        task: str,
        model: str,
        seed: int = 0,
        train_size: int = 2000,
        tokenizer: str | None = None,
        **task_params,
    ) -> Recipe:
        """Generate the training set once to fit the tokenizer (and labels) deterministically."""
        if model not in FAMILIES:
            raise ValueError(f"model: expected one of {sorted(FAMILIES)}, got {model!r}")
        if train_size < 1:
            raise ValueError(f"train_size: expected >= 1, got {train_size}")
        examples = generate(task, train_size, seed=seed, split="train", **task_params)
        kind = tokenizer or ("char" if task in CHAR_TASKS else "word")
        if kind not in ("char", "word"):
            raise ValueError(f"tokenizer: expected 'char' or 'word', got {kind!r}")
        cls = CharTokenizer if kind == "char" else WordTokenizer
        labels = sorted({as_text(ex.tgt) for ex in examples}) if FAMILIES[model] == "classify" else []
        texts = [as_text(ex.src) for ex in examples] + (
            [] if labels else [as_text(ex.tgt) for ex in examples]
        )
        recipe = Recipe(task, model, cls.fit(texts), labels, task_params, seed, train_size)
        recipe.max_len = (
            max(len(recipe.encode_pair(ex)[0]) + len(recipe.encode_pair(ex)[1]) for ex in examples) + 2
        )
        recipe._train = examples
        return recipe

    def to_dict(self) -> dict:
        return {
            "format": "attnlab-recipe",
            "task": self.task,
            "model": self.model,
            "labels": self.labels,
            "task_params": self.task_params,
            "seed": self.seed,
            "train_size": self.train_size,
            "max_len": self.max_len,
            "tokenizer": self.tokenizer.to_dict(),
        }

    def save(self, folder: str | Path) -> None:
        from attnlab._io import atomic_write_json

        atomic_write_json(Path(folder) / RECIPE_FILE, self.to_dict(), indent=1)

    @staticmethod
    def load(folder: str | Path) -> Recipe:
        path = Path(folder) / RECIPE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(
                f"{path}: missing or unreadable recipe ({e}); is this an attnlab checkpoint?"
            ) from e
        if data.get("format") != "attnlab-recipe":
            raise ValueError(f"{path}: not an attnlab recipe file")
        return Recipe(
            data["task"],
            data["model"],
            tokenizer_from_dict(data["tokenizer"]),
            data["labels"],
            data["task_params"],
            data["seed"],
            data["train_size"],
            data["max_len"],
        )

    # -- model -----------------------------------------------------------------------------------
    def build_model(self, **overrides) -> nn.Module:
        vocab = len(self.tokenizer)
        common = {"max_len": self.max_len}
        if self.model == "rnn-seq2seq":
            kw = {"src_vocab_size": vocab, "tgt_vocab_size": vocab, "max_src_len": self.max_len}
        elif self.model == "transformer-classifier":
            kw = {"vocab_size": vocab, "num_classes": len(self.labels), "pooling": "mean", **common}
        else:
            kw = {"vocab_size": vocab, **common}
        return create_model(self.model, **{**kw, **overrides})

    # -- data ------------------------------------------------------------------------------------
    def examples(self, split: str, n: int) -> list:
        if split == "train" and getattr(self, "_train", None) is not None and n <= len(self._train):
            return self._train[:n]
        return generate(self.task, n, seed=self.seed, split=split, **self.task_params)

    def encode_pair(self, ex) -> tuple[list[int], list[int]]:
        src, tgt = self.tokenizer.encode(as_text(ex.src)), as_text(ex.tgt)
        if self.family == "classify":
            return src, [self.labels.index(tgt)] if tgt in self.labels else [-100]
        return src, self.tokenizer.encode(tgt, add_eos=True)

    def collate(self, examples) -> dict:
        tok = self.tokenizer
        pairs = [self.encode_pair(ex) for ex in examples]
        if self.family == "classify":
            src = pad_batch([p[0] for p in pairs], tok.pad_id)
            return {"ids": src.ids, "lengths": src.lengths, "labels": torch.tensor([p[1][0] for p in pairs])}
        if self.family == "lm":
            seqs = [[tok.bos_id] + s + t for s, t in pairs]
            batch = pad_batch(seqs, tok.pad_id)
            target = batch.ids[:, 1:].clone()  # predict token i+1 from tokens <= i
            for row, (s, _) in enumerate(pairs):
                target[row, : len(s)] = -100  # the prompt is given, only the answer is learned
            target[target == tok.pad_id] = -100
            return {"ids": batch.ids[:, :-1], "target": target}
        src = pad_batch([p[0] for p in pairs], tok.pad_id)
        tgt = pad_batch([[tok.bos_id] + p[1] for p in pairs], tok.pad_id)
        target = tgt.ids[:, 1:].clone()
        target[target == tok.pad_id] = -100
        return {"src": src.ids, "src_lengths": src.lengths, "tgt_in": tgt.ids[:, :-1], "target": target}

    def batch(self, step: int, batch_size: int) -> dict:
        """Training batch ``step``: a deterministic sample of the training set."""
        train = self.examples("train", self.train_size)
        rng = random.Random(self.seed * 1_000_003 + step)
        return self.collate([train[rng.randrange(len(train))] for _ in range(batch_size)])

    # -- objective and evaluation ----------------------------------------------------------------
    def logits(self, model: nn.Module, batch: dict) -> Tensor:
        if self.family == "classify":
            return model(batch["ids"], batch["lengths"])[0]
        if self.family == "lm":
            return model(batch["ids"])[0]
        return model(batch["src"], batch["tgt_in"], batch["src_lengths"])[0]

    def loss(self, model: nn.Module, batch: dict, label_smoothing: float = 0.0) -> tuple[Tensor, dict]:
        logits = self.logits(model, batch)
        target = batch["labels"] if self.family == "classify" else batch["target"]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            target.reshape(-1),
            ignore_index=-100,
            label_smoothing=label_smoothing,
        )
        keep = target != -100
        acc = ((logits.argmax(-1) == target) & keep).sum() / keep.sum().clamp_min(1)
        return loss, {"token_acc": acc.item()}

    @torch.no_grad()
    def predict(self, model: nn.Module, texts: list[str], max_new: int = 64) -> list[str]:
        """The model's answers for raw input texts."""
        model.eval()
        tok = self.tokenizer
        ids = [tok.encode(t) for t in texts]
        if self.family == "classify":
            b = pad_batch(ids, tok.pad_id)
            return [self.labels[i] for i in model(b.ids, b.lengths)[0].argmax(-1).tolist()]
        if self.family == "lm":
            outs = []
            for seq in ids:
                prompt = torch.tensor([[tok.bos_id] + seq])
                new = model.generate(prompt, max_new, temperature=0.0, eos_id=tok.eos_id)[
                    0, prompt.shape[1] :
                ]
                outs.append(tok.decode(new.tolist()))
            return outs
        b = pad_batch(ids, tok.pad_id)
        out = model.greedy_decode(b.ids, b.lengths, max_len=max_new)
        out = out[0] if isinstance(out, tuple) else out
        return [tok.decode(row.tolist()) for row in out]

    def evaluate(self, model: nn.Module, n: int = 200, split: str = "valid") -> dict:
        """Exact-match accuracy of the model's answers and the mean loss on ``n`` held-out examples."""
        examples = self.examples(split, n)
        answers = self.predict(model, [as_text(ex.src) for ex in examples])
        exact = sum(a.strip() == as_text(ex.tgt).strip() for a, ex in zip(answers, examples)) / len(examples)
        with torch.no_grad():
            loss, metrics = self.loss(model, self.collate(examples))
        return {"loss": loss.item(), "accuracy": exact, **metrics}


class RecipeTask:
    """A :class:`Recipe` as the trainer's Task: batches, loss, evaluation."""

    def __init__(self, recipe, eval_size: int = 200):
        self.recipe, self.eval_size = recipe, eval_size

    def batch(self, step: int, batch_size: int):
        return self.recipe.batch(step, batch_size)

    def loss(self, model, batch, label_smoothing: float = 0.0):
        return self.recipe.loss(model, batch, label_smoothing)

    def evaluate(self, model) -> dict:
        return self.recipe.evaluate(model, n=self.eval_size)

    def tokens(self, batch) -> int:
        """Real target tokens (padding and prompts excluded), or examples for classifiers."""
        return int((batch["target"] != -100).sum()) if "target" in batch else len(batch["labels"])
