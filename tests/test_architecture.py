"""The layer map of docs/architecture.md, enforced on the source of src/attnlab.

An import graph is built with ``ast`` from every module: module-level and function-level imports,
relative and absolute, plus the two dynamic forms the package uses (``importlib.import_module`` with a
literal or f-string name, and ``"attnlab.module:function"`` dispatch targets). Each module belongs to
the layer of its folder (top-level modules are placed explicitly). The tests fail on an import that
goes up the map or sideways to a peer, on an import cycle, on a module over 400 lines and on a
function over 80 lines (outside ``experiments/``). Known exceptions are listed below with a reason;
an exception that no longer occurs fails too, so the list only shrinks.

The last tests follow recipes of docs/architecture.md once with throw-away parts (a backend, a mask,
a score mod, a generated task) registered for the test and removed after it.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "attnlab"
DOC = ROOT / "docs" / "architecture.md"

# Top to bottom. A module may import its own folder and any layer below; folders on one line are
# peers: neither imports the other.
LAYERS: list[tuple[str, ...]] = [
    ("cli",),  # cli.py: parses and dispatches only
    ("report", "serve"),
    ("experiments",),
    ("app",),
    ("integrations",),  # other ecosystems (Hugging Face), optional extras
    ("interpret",),
    ("training",),
    ("data",),
    ("bench",),
    ("models",),
    ("layers",),
    ("attention",),
    ("_io", "figures", "threads", "progress", "__init__"),  # small shared modules: everyone may use them;
    # they use no attnlab module
]
RANK = {unit: i for i, units in enumerate(LAYERS) for unit in units}
UNLIMITED = ("experiments",)  # folders exempt from the size limits
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 80

# Known exceptions: (importer, imported module) -> reason; keep these as short as possible.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}
KNOWN_CYCLES: dict[frozenset[str], str] = {}
KNOWN_LONG: dict[str, str] = {}  # "module" or "module:function" -> reason

DISPATCH = re.compile(r"^(attnlab(?:\.\w+)+):\w+$")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    line: int
    target: str  # the imported module


@cache
def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of src/attnlab (a package is its __init__.py)."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def unit(module: str) -> str:
    """The folder (or top-level module) of ``module``, the key of :data:`LAYERS`."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _known(name: str, known: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _from_targets(module: str, is_package: bool, node: ast.ImportFrom, known) -> list[str]:
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        package = ".".join(base + ([node.module] if node.module else []))
    else:
        package = node.module or ""
        if package.split(".")[0] != "attnlab":
            return []
    # `from package import name`: the submodule when name is one, else the package itself
    return [f"{package}.{a.name}" if f"{package}.{a.name}" in known else package for a in node.names]


def _dynamic_target(node: ast.AST) -> str | None:
    """The module of an ``"attnlab.x:fn"`` literal or of ``import_module("attnlab.x")`` (literal or
    f-string: ``import_module(f"attnlab.x.{y}")`` counts as ``attnlab.x``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and (m := DISPATCH.match(node.value)):
        return m.group(1)
    if not (isinstance(node, ast.Call) and node.args):
        return None
    func = node.func
    if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)) != "import_module":
        return None
    arg = node.args[0]
    if isinstance(arg, ast.JoinedStr) and arg.values:
        arg = arg.values[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("attnlab"):
        return arg.value.rstrip(".")
    return None


def imports_of(module: str, source: str, is_package: bool = False) -> list[Import]:
    """Every import of attnlab modules in ``source`` (the text of ``module``), at any depth."""
    known, found = modules(), []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.split(".")[0] == "attnlab"]
        elif isinstance(node, ast.ImportFrom):
            targets = _from_targets(module, is_package, node, known)
        else:
            targets = [t] if (t := _dynamic_target(node)) else []
        for target in targets:
            resolved = _known(target, known)
            if resolved is not None and resolved != module:
                found.append(Import(module, node.lineno, resolved))
    return found


@cache
def graph() -> tuple[Import, ...]:
    return tuple(
        imp
        for name, path in modules().items()
        for imp in imports_of(name, path.read_text(encoding="utf-8"), path.name == "__init__.py")
    )


def layer_violations(imports) -> list[str]:
    """``file:line: ...`` for each import going up the map or to a peer folder."""
    out = []
    for imp in imports:
        a, b = unit(imp.source), unit(imp.target)
        if a == b or (imp.source, imp.target) in KNOWN_UPWARD:
            continue
        if RANK[b] < RANK[a] or RANK[b] == RANK[a]:
            where = "above" if RANK[b] < RANK[a] else "beside (a peer of)"
            path = modules()[imp.source].relative_to(ROOT)
            out.append(f"{path}:{imp.line}: imports {imp.target}, in {b}, which is {where} {a}")
    return out


def cycles(imports) -> dict[frozenset[str], list[str]]:
    """Each strongly connected component of more than one module -> one cycle through it."""
    edges: dict[str, set[str]] = {}
    for imp in imports:
        edges.setdefault(imp.source, set()).add(imp.target)
    index, low, stack, on_stack, found = {}, {}, [], set(), {}

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found[frozenset(component)] = _one_cycle(min(component), component, edges)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _one_cycle(start: str, component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """The shortest path start -> ... -> start inside ``component`` (breadth first)."""
    parent, queue = {}, deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(edges.get(v, set()) & component):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")


# -- the rules ---------------------------------------------------------------------------------------
def test_every_folder_has_a_layer_and_the_doc_names_it():
    unplaced = sorted({unit(m) for m in modules()} - set(RANK))
    assert not unplaced, f"folders/modules missing from LAYERS (and docs/architecture.md): {unplaced}"
    doc = DOC.read_text(encoding="utf-8")
    missing = [u for u in RANK if u != "__init__" and f"{u}/" not in doc and f"{u}.py" not in doc]
    assert not missing, f"docs/architecture.md does not name {missing}"


def test_imports_only_go_downward():
    violations = layer_violations(graph())
    assert not violations, "imports against the layer map:\n" + "\n".join(violations)
    stale = [k for k in KNOWN_UPWARD if not any((i.source, i.target) == k for i in graph())]
    assert not stale, f"known exceptions that no longer occur (delete them from KNOWN_UPWARD): {stale}"


def test_no_import_cycles():
    found = cycles(graph())
    new = [" -> ".join(c) for s, c in found.items() if s not in KNOWN_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(new)
    stale = [sorted(s) for s in KNOWN_CYCLES if s not in found]
    assert not stale, f"known cycles that no longer occur (delete them from KNOWN_CYCLES): {stale}"


def test_modules_and_functions_are_short():
    long = []
    for name, path in modules().items():
        if unit(name) in UNLIMITED:
            continue
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        if (n := len(text.splitlines())) > MAX_MODULE_LINES and name not in KNOWN_LONG:
            long.append(f"{rel}: {n} lines > {MAX_MODULE_LINES}")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and f"{name}:{node.name}" not in KNOWN_LONG:
                    long.append(f"{rel}:{node.lineno}: {node.name} is {n} lines > {MAX_FUNCTION_LINES}")
    assert not long, "too long:\n" + "\n".join(long)


def test_the_checker_sees_what_it_must():
    edges = {(i.source, i.target) for i in graph()}
    assert ("attnlab.models.bert", "attnlab.layers.blocks") in edges  # relative, module level
    assert ("attnlab.app.inspect", "attnlab.data.pretrained") in edges  # absolute, in a function
    assert ("attnlab.attention.backends", "attnlab.attention.backends.int8") in edges  # from . import x
    assert ("attnlab.cli", "attnlab.report.commands") in edges  # "module:function" dispatch
    assert ("attnlab.cli", "attnlab.bench") in edges  # import_module(f"attnlab.bench.{suite}")
    upward = imports_of("attnlab.models.bert", "def f():\n    from ..app import show\n")
    assert layer_violations(upward) == [
        "src/attnlab/models/bert.py:2: imports attnlab.app.show, in app, which is above models"
    ]
    peer = imports_of("attnlab.report.html", "import attnlab.serve.app\n")
    assert "beside (a peer of) report" in layer_violations(peer)[0]
    loop = [Import("attnlab.a", 1, "attnlab.b"), Import("attnlab.b", 1, "attnlab.c")]
    loop.append(Import("attnlab.c", 1, "attnlab.a"))
    assert list(cycles(loop).values()) == [["attnlab.a", "attnlab.b", "attnlab.c", "attnlab.a"]]


# -- recipes of docs/architecture.md, followed once with throw-away parts ----------------------------
def _qkv(lq=7, lk=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, h, n, 8, generator=g, dtype=torch.float64) for h, n in ((4, lq), (2, lk), (2, lk))]


def _agree(mask=None, mod=None, backends=("sdpa", "chunked"), lq=7, lk=9):
    from attnlab.attention import attend

    q, k, v = _qkv(lq, lk)
    ref = attend(q, k, v, mask=mask, score_mod=mod, backend="reference")
    for backend in backends:
        out = attend(q, k, v, mask=mask, score_mod=mod, backend=backend)
        torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10, msg=lambda m, b=backend: f"{b}: {m}")


def test_recipe_backend(capsys):
    from attnlab.app.listing import run as list_everything
    from attnlab.attention import BACKENDS, Backend, attend, masks, mods, register_backend
    from attnlab.attention.request import expand_kv

    def naive(q, k, v, req):
        k, v = expand_kv(k, req.group), expand_kv(v, req.group)  # (B, Hq, Lk, D)
        scores = (q @ k.transpose(-1, -2)) * req.scale  # (B, Hq, Lq, Lk)
        if req.score_mod is not None:
            scores = req.score_mod.apply(scores, (0, req.q_len), (0, req.kv_len), req.offset)
        if req.mask is not None:
            visible = req.mask.materialize(req.batch, req.q_heads, req.q_len, req.kv_len, q.device)
            scores = scores.masked_fill(~visible, float("-inf"))
        return torch.softmax(scores, -1).nan_to_num(0.0) @ v  # fully-masked rows -> zeros

    def check(req):
        return "attention dropout is not supported" if req.dropout_p > 0 else None

    register_backend(Backend("scratch", naive, check, "throw-away naive softmax", exact=False))
    try:
        for mask in (None, masks.causal(), masks.sliding_window(2) & masks.padding(torch.tensor([0, 5]))):
            _agree(mask, mods.alibi(4), backends=("scratch",))
        q, k, v = _qkv()
        with pytest.raises(ValueError, match="backend='scratch'.*dropout"):
            attend(q, k, v, dropout_p=0.1, backend="scratch")
        list_everything(argparse.Namespace())
        assert "scratch      approximate throw-away naive softmax" in capsys.readouterr().out
    finally:
        BACKENDS.pop("scratch", None)


def test_recipe_mask():
    from attnlab.attention import masks
    from attnlab.layers import MultiHeadAttention
    from attnlab.layers.attention_config import AttentionConfig, build_mask

    def diagonals(period: int = 2) -> masks.Mask:
        """Keys on every ``period``-th diagonal through the query, itself included (never an empty row)."""

        def fn(b, h, q_idx, kv_idx, offset):
            return (kv_idx - (q_idx + offset)) % period == 0  # absolute positions, lower-right aligned

        return masks.Mask(fn, f"diagonals({period})", kind="diagonals", params={"period": period})

    masks.ALL_MASKS["diagonals"] = diagonals
    try:
        mask = build_mask({"name": "diagonals", "period": 3})
        for m in (mask, mask & masks.causal(), ~mask | masks.sliding_window(1)):
            _agree(m)
            _agree(m, lq=9, lk=9)
        layer = MultiHeadAttention(16, 4, AttentionConfig(attention_mask={"name": "diagonals", "period": 2}))
        _, w = layer(torch.randn(1, 6, 16), need_weights=True)
        assert (w[0, :, 0, 1::2] == 0).all() and (w[0, :, 0, ::2] > 0).all()
    finally:
        masks.ALL_MASKS.pop("diagonals", None)


def test_recipe_score_mod():
    from attnlab.attention import masks, mods

    def distance_penalty(rate: float) -> mods.ScoreMod:
        """Subtract ``rate`` per position of distance between query and key (a pure bias)."""

        def fn(score, b, h, q_idx, kv_idx, offset):
            return score - rate * (q_idx + offset - kv_idx).abs()

        return mods.ScoreMod(fn, f"distance_penalty({rate})", additive=True, uses_head=False)

    mods.ALL_MODS["distance_penalty"] = distance_penalty
    try:
        mod = mods.ALL_MODS["distance_penalty"](0.5)
        _agree(None, mod)  # additive: sdpa takes it as a dense float bias
        _agree(masks.causal() & masks.sliding_window(3), mod, lq=9, lk=9)
        _agree(masks.causal(), mods.compose(mod, mods.softcap(5.0)), backends=("chunked",))  # general
    finally:
        mods.ALL_MODS.pop("distance_penalty", None)


def scratch_task(n: int, *, seed: int = 0, split: str = "train", length: int = 4):
    """Throw-away generated task: words in, the same words reversed out."""
    from attnlab.data.base import Example, check_int, task_rng

    check_int("length", length, 1)
    rng = task_rng(seed, split)
    words = [[rng.choice("abcdef") for _ in range(length)] for _ in range(n)]
    return [Example(" ".join(w), " ".join(reversed(w)), {"task": "scratch"}) for w in words]


def test_recipe_task():
    from attnlab.app import Recipe
    from attnlab.data import TASKS, TaskInfo, generate

    TASKS["scratch"] = TaskInfo("scratch", "generated", f"{__name__}:scratch_task", "throw-away reversal")
    try:
        assert TASKS["scratch"].parameters() == ["length"]
        a = generate("scratch", 5, seed=1, length=3)
        assert [e.to_dict() for e in a] == [e.to_dict() for e in generate("scratch", 5, seed=1, length=3)]
        assert a[0].tgt.split() == a[0].src.split()[::-1]
        with pytest.raises(ValueError, match="no parameter 'size'"):
            generate("scratch", 1, size=3)
        recipe = Recipe.create("scratch", "transformer-seq2seq", train_size=20)
        assert recipe.family == "seq2seq"
    finally:
        TASKS.pop("scratch", None)
