"""Run a text through a model and collect what an attention viewer needs (``attnlab show`` / ``serve``).

:func:`inspect_text` returns an :class:`Inspection`: the input tokens, the decoder-side tokens, every
attention map as ``(layers, heads, Lq, Lk)`` per kind (``"encoder"``, ``"decoder"``, ``"cross"``; the
attention-pooling classifier adds ``"pooling"``, one query over the input, Yang et al., 2016) and the
model's output as text. Row ``i`` of a map is the softmax distribution ``α_i = softmax(q_i Kᵀ/√d)`` of
query ``i`` over the keys (additive ``e_ij = vᵀ tanh(W s_{i-1} + U h_j)`` for Bahdanau RNNs: one layer,
one head), so every row sums to 1.

Models (:func:`list_models`): attnlab training checkpoints found in a folder (``recipe.json`` beside the
weights, see :mod:`attnlab.app.inference`), built-in demo models trained once on first use and cached under
``$ATTNLAB_CACHE/demo-models`` (``~/.cache/attnlab``), ``minilm`` when the MiniLM package is
installed, and local Hugging Face folders (``config.json`` + safetensors, given as a path or found in
the models folder; :mod:`attnlab.app.hf_inspect`) whose attention runs through attnlab. ``minilm`` is
one such folder (read by attnlab's own BERT encoder when transformers is not installed). Decoder rows
are labelled by the token each step produced; decoder keys by the token each step read (``<bos>``
first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from .demo_models import DEMO_MODELS, demo_folder, ensure_demo

MINILM = "all-MiniLM-L6-v2 sentence encoder (6 layers, 12 heads; WordPiece tokens), from its package"


@dataclass
class Inspection:
    """What a viewer shows: tokens, attention maps ``kind -> (layers, heads, Lq, Lk)``, the output."""

    model: str
    tokens: list[str]
    target_tokens: list[str] | None
    attentions: dict[str, Tensor]
    output: str
    axes: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)  # kind -> (rows, cols)
    description: str = ""

    def weights(self, kind: str, layer: int | None = None, head: int | None = None) -> Tensor:
        """One map ``(Lq, Lk)``: ``layer`` (default the last; negative counts from the end), ``head``
        (default: the mean over heads)."""
        if kind not in self.attentions:
            raise ValueError(f"kind: expected one of {sorted(self.attentions)}, got {kind!r}")
        a = self.attentions[kind]  # (layers, heads, Lq, Lk)
        for name, value, n in (("layer", layer, a.shape[0]), ("head", head, a.shape[1])):
            if value is not None and not -n <= value < n:
                raise ValueError(f"{name}: expected an index in 0..{n - 1} for {kind}, got {value}")
        a = a[-1 if layer is None else layer]  # (heads, Lq, Lk)
        return a.mean(0) if head is None else a[head]

    def to_json(self, decimals: int = 4) -> dict:
        """JSON-ready dict (weights rounded to ``decimals``) for the web viewer."""
        maps = {
            kind: {
                "shape": list(a.shape),
                "query_tokens": self.axes[kind][0],
                "key_tokens": self.axes[kind][1],
                "weights": a.double().round(decimals=decimals).tolist(),
            }
            for kind, a in self.attentions.items()
        }
        return {
            "model": self.model,
            "description": self.description,
            "tokens": self.tokens,
            "target_tokens": self.target_tokens,
            "output": self.output,
            "attentions": maps,
        }


# -- models ------------------------------------------------------------------------------------------
def _find_minilm() -> Path | None:
    try:
        from attnlab.models.bert import find_minilm
    except ImportError:
        return None
    return find_minilm()


def find_checkpoints(folder: str | Path) -> dict[str, tuple[Path, str]]:
    """Training runs / checkpoints with a ``recipe.json`` in ``folder`` (two levels deep):
    ``name (relative path) -> (checkpoint folder, description)``."""
    from attnlab.training import resolve_checkpoint

    from .recipes import RECIPE_FILE, Recipe

    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"models: {root} is not a folder")
    found: dict[str, tuple[Path, str]] = {}
    candidates = [root] + [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    candidates += [q for p in candidates[1:] for q in sorted(p.iterdir()) if q.is_dir() and q.name == "best"]
    for path in candidates:
        try:
            ckpt = resolve_checkpoint(path)
            recipe = Recipe.load(ckpt)
        except (ValueError, OSError):
            continue
        if (ckpt / RECIPE_FILE).is_file() and ckpt not in {c for c, _ in found.values()}:
            name = root.name if path == root else path.relative_to(root).as_posix()
            found[name] = (ckpt, f"{recipe.model} trained on {recipe.task} ({ckpt.name}, {ckpt})")
    return found


def list_models(folder: str | Path | None = None) -> dict[str, str]:
    """``name -> description`` of the models :func:`inspect_text` knows: demo models, ``minilm`` (when
    installed) and the checkpoints in ``folder``."""
    out = {}
    for name, spec in DEMO_MODELS.items():
        cached = (demo_folder(name) / "checkpoints" / "latest").is_file()
        out[name] = spec.description + (" [cached]" if cached else "")
    if _find_minilm() is not None:
        out["minilm"] = MINILM
    if folder is not None:
        found = {**find_hf_folders(folder), **find_checkpoints(folder)}
        out.update({name: desc for name, (_, desc) in found.items() if name not in out})
    return out


def find_hf_folders(folder: str | Path) -> dict[str, tuple[Path, str]]:
    """Local Hugging Face folders in ``folder`` (itself or one level down)."""
    from .hf_inspect import find_folders

    return find_folders(folder)


class ModelStore:
    """A small LRU of loaded models, safe under concurrent requests.

    Each key loads once behind its own lock: while one model loads (a demo model may train for a
    minute on first use), requests for models already loaded, or for other models, do not wait. The
    store's own lock is held only to look up and insert, never during a load or an inference."""

    def __init__(self, size: int = 4) -> None:
        if size < 1:
            raise ValueError(f"size: expected >= 1, got {size}")
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def _lookup(self, key: str):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def get(self, key: str, load: Callable[[], tuple]) -> tuple:
        if (found := self._lookup(key)) is not None:
            return found
        with self._lock:
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per key; other keys go on
            if (found := self._lookup(key)) is not None:
                return found  # loaded by the request we waited for
            item = load()
            with self._lock:
                self._items[key] = item
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._loading.pop(key, None)
            return item


DEFAULT_STORE = ModelStore(2)


def _load(model: str | Path, models_dir, allow_paths: bool) -> tuple[str, Callable[[], tuple], str]:
    """``(cache key, loader, description)`` for a model name or (with ``allow_paths``) a checkpoint or
    Hugging Face folder path."""
    from . import hf_inspect
    from .inference import load

    name = str(model)
    if name in DEMO_MODELS:
        loader = lambda: ("recipe", *load(str(ensure_demo(name)))[:2])  # noqa: E731
        return f"demo:{demo_folder(name)}", loader, DEMO_MODELS[name].description
    if name == "minilm" and (folder := _find_minilm()) is not None:
        if hf_inspect.available():  # one Hugging Face folder among others
            return f"hf:{folder}", hf_inspect.loader(folder), MINILM
        from attnlab.data.pretrained import load_bert

        return f"minilm:{folder}", lambda: ("bert", *load_bert(folder)), MINILM
    found = {**find_hf_folders(models_dir), **find_checkpoints(models_dir)} if models_dir is not None else {}
    if name in found:
        path, desc = found[name]
    elif allow_paths and name and Path(name).exists():
        path, desc = Path(name), f"checkpoint {name}"
    else:
        known = ", ".join(list_models(models_dir))
        hint = " (the MiniLM package is not installed)" if name == "minilm" else ""
        raise ValueError(f"model: unknown model {name!r}{hint}; known models: {known}")
    if Path(path).is_dir() and hf_inspect.read_config(path) is not None:  # errors name what is missing
        desc = desc if name in found else hf_inspect.describe(path)
        return f"hf:{Path(path).resolve()}", hf_inspect.loader(Path(path)), desc
    return f"ckpt:{Path(path).resolve()}", lambda: ("recipe", *load(str(path))[:2]), desc


# -- inspection --------------------------------------------------------------------------------------
def check_text(text: str | bytes) -> str:
    """``text`` as a clean string: bytes must be UTF-8, lone surrogates (undecodable command-line
    bytes) are refused, and it must not be empty."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"text: not valid UTF-8 (byte 0x{e.object[e.start]:02x} at {e.start})") from None
    if not isinstance(text, str):
        raise ValueError(f"text: expected a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"text: not valid UTF-8 (undecodable byte at character {e.start})") from None
    if not text.strip():
        raise ValueError("text: expected some text, got an empty string")
    return text.strip()


def _check_length(n: int, max_tokens: int) -> None:
    if n > max_tokens:
        raise ValueError(f"text: {n} tokens, more than the cap of {max_tokens} (max_tokens)")


def _stack(layers: list[Tensor]) -> Tensor:
    return torch.stack([w[0] for w in layers]).float()  # (layers, heads, Lq, Lk) of example 0


def _until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos) + 1] if eos in ids else ids


def _result(tokens, target, output, maps, axes) -> dict:
    return {"tokens": tokens, "target_tokens": target, "output": output, "attentions": maps, "axes": axes}


def _run_recipe(recipe, model, text: str, max_tokens: int) -> dict:
    tok = recipe.tokenizer
    tokens, ids = tok.tokenize(text), tok.encode(text)
    _check_length(len(ids), max_tokens)
    src, lengths = torch.tensor([ids]), torch.tensor([len(ids)])  # (1, L)
    names = lambda seq: [tok.tokens[i] for i in seq]  # noqa: E731
    if recipe.family == "classify":
        logits, att = model(src, lengths, need_weights=True)
        top = torch.softmax(logits[0], -1).topk(min(3, len(recipe.labels)))
        output = " · ".join(f"{recipe.labels[i]} ({p:.2f})" for p, i in zip(*map(list, top)))
        keys = (["[CLS]"] if model.config.pooling == "cls" else []) + tokens
        maps, axes = {"encoder": _stack(att["encoder"])}, {"encoder": (keys, keys)}
        if "pooling" in att:
            maps["pooling"] = att["pooling"][0].float()[None, None, None]  # (1, 1, 1, L)
            axes["pooling"] = (["<pool>"], keys)
        return _result(tokens, None, output, maps, axes)
    if recipe.family == "lm":
        prompt = [tok.bos_id] + ids
        room = 32 if model.config.position != "learned" else model.config.max_len - len(prompt)
        out = model.generate(
            torch.tensor([prompt]), max(0, min(32, room)), temperature=0.0, eos_id=tok.eos_id
        )
        new = _until_eos(out[0, len(prompt) :].tolist(), tok.eos_id)
        _, att = model(torch.tensor([prompt + new]), need_weights=True)  # (1, 1 + L + T)
        labels = ["<bos>"] + tokens + names(new)
        maps, axes = {"decoder": _stack(att["decoder"])}, {"decoder": (labels, labels)}
        return _result(tokens, names(new), tok.decode(new), maps, axes)
    out = model.greedy_decode(src, lengths, max_len=64)
    out, weights = out if isinstance(out, tuple) else (out, None)
    new = _until_eos(out[0].tolist(), tok.eos_id)
    target = names(new)
    if model.config.kind == "rnn-seq2seq":
        maps = {} if weights is None else {"cross": weights[0, : len(new)].float()[None, None]}  # (1,1,T,Ls)
    else:  # teacher-force the greedy output to read every layer's maps
        _, att = model(src, torch.tensor([[tok.bos_id] + new[:-1]]), lengths, need_weights=True)
        maps = {kind: _stack(att[kind]) for kind in ("encoder", "decoder", "cross")}
    axes = {
        "encoder": (tokens, tokens),
        "cross": (target, tokens),
        "decoder": (target, ["<bos>"] + target[:-1]),
    }
    return _result(tokens, target, tok.decode(new), maps, {k: axes[k] for k in maps})


def _run_bert(encoder, tokenizer, text: str, max_tokens: int) -> dict:
    from attnlab.models.bert import mean_pool

    n = len(tokenizer.tokenize(text)) + 2  # [CLS] pieces [SEP]
    _check_length(n, max_tokens)
    ids, tokens = tokenizer.encode(text, max_length=n)
    out = encoder(torch.tensor([ids]), need_weights=True)  # ids (1, L)
    emb = mean_pool(out.last_hidden_state, normalize=False)[0]  # (D,)
    output = f"sentence embedding: {emb.numel()} dims (mean of the last layer), norm {emb.norm():.2f}"
    maps, axes = {"encoder": _stack(out.attentions)}, {"encoder": (list(tokens), list(tokens))}
    return _result(list(tokens), None, output, maps, axes)


def inspect_text(
    model: str | Path,
    text: str | bytes,
    max_tokens: int = 128,
    *,
    models_dir: str | Path | None = None,
    store: ModelStore | None = None,
    allow_paths: bool = True,
) -> Inspection:
    """Run ``text`` through ``model`` (a name from :func:`list_models` or, with ``allow_paths``, a
    checkpoint/run folder) and return its tokens, attention maps and output.

    Raises ValueError for an unknown model, empty text, invalid UTF-8 or more than ``max_tokens`` tokens.
    """
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValueError(f"max_tokens: expected a positive integer, got {max_tokens!r}")
    text = check_text(text)
    key, loader, desc = _load(model, models_dir, allow_paths)
    kind, *parts = (store or DEFAULT_STORE).get(key, loader)
    with torch.inference_mode():
        if kind == "hf":
            from .hf_inspect import run_hf

            found = _result(*run_hf(*parts, text, lambda n: _check_length(n, max_tokens)))
        else:
            found = (_run_bert if kind == "bert" else _run_recipe)(*parts, text, max_tokens)
    return Inspection(model=str(model), description=desc, **found)
