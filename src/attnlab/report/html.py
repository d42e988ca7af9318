"""Assemble the results into ``index.html`` (English) and ``index.zh.html`` (Chinese).

Each lesson's section leads with the evidence: the claim's yardstick, then the **reference result**
(the experiment's full profile over all its seeds, shipped with the package) with its figures,
criteria, seeds, machine, date, commit, torch and command, then **your run** when the runs folder has
one, and whether it agrees with the reference; the history and mechanism follow. The pages are static,
with inline CSS, figures copied into the report folder (relative links only) and the Chinese glyphs
they need embedded as a font subset: they open offline, from any folder, with no CDN or script.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable
from pathlib import Path

from attnlab.experiments import EXPERIMENTS, Experiment, Result

from .assets import FONT_HINT, Figures, find_cjk_font, font_face, page_characters
from .course import course_html
from .labels import CSS, LABELS
from .sources import (
    Folder,
    agrees,
    command,
    commit_text,
    date_text,
    measured_text,
    reference_results,
    reference_root,
    run_results,
    torch_text,
)

PAGES = (("en", "index.html"), ("zh", "index.zh.html"))


def _esc(text) -> str:
    return html.escape(str(text))


def _badge(result: Result, lang: str) -> str:
    return f'<span class="badge {_esc(result.verdict)}">{_esc(LABELS[lang].get(result.verdict, result.verdict))}</span>'


def _images(links: list[tuple[str, str]]) -> str:
    return "".join(f'<img src="{_esc(link)}" alt="{_esc(fig)}">' for fig, link in links)


def _criteria_table(result: Result, lang: str) -> str:
    t = LABELS[lang]
    seeds = ", ".join(map(str, result.seeds))
    head = (
        f"<tr><th>{t['criterion']}</th><th>{t['kind']}</th><th>{t['measured'].format(seeds=seeds)}</th>"
        f"<th>{t['rule']}</th><th>{t['result']}</th></tr>"
    )
    rows = [head]
    for c in result.criteria:
        kind = t["primary"] if c.get("primary") else t["secondary"]
        rows.append(
            f"<tr><td><code>{_esc(c['name'])}</code></td><td>{kind}</td><td>{_esc(measured_text(c))}</td>"
            f"<td><code>{_esc(c.get('comparison', ''))}</code></td><td>{t['passed'].get(c.get('passed'), '—')}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _metrics_table(metrics: dict) -> str:
    rows = []
    for key, value in metrics.items():
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        rows.append(f"<tr><th>{_esc(key)}</th><td><code>{_esc(text)}</code></td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _machine(result: Result, lang: str) -> str:
    m = result.machine
    return LABELS[lang]["machine_fmt"].format(
        processor=m.get("processor") or "—", threads=m.get("threads", "—"), cpus=m.get("cpus", "—")
    )


def _reference(exp: Experiment, ref: Result, links: list, lang: str) -> str:
    t = LABELS[lang]
    facts = [
        (t["seeds"], ", ".join(map(str, ref.seeds))),
        (t["machine"], _machine(ref, lang)),
        (t["date"], date_text(ref)),
        (t["commit"], commit_text(ref, t["dirty"], t["seed_words"])),
        ("torch", torch_text(ref)),
    ]
    facts_html = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts)
    facts_html += f"<dt>{t['command']}</dt><dd><code>{_esc(command(exp.name))}</code></dd>"
    return (
        f'<div class="evidence reference"><h3>{t["reference"]}{_badge(ref, lang)}</h3>'
        f"<p><b>{t['verdict']}</b>{t['sep']}{_esc(getattr(ref.summary, lang))}</p>{_images(links)}"
        f"{_criteria_table(ref, lang)}<dl>{facts_html}</dl></div>"
    )


def agreement_text(ref: Result | None, run: Result, lang: str) -> tuple[str, str]:
    """(css class, sentence) saying whether ``run`` agrees with the reference result ``ref``."""
    t = LABELS[lang]
    if ref is None:
        return "muted", t["alone"]
    if agrees(ref, run):
        return "agree", t["agrees"]
    text = t["differs"].format(ref=t.get(ref.verdict, ref.verdict))
    limit = getattr(EXPERIMENTS[run.name].quick_limit, lang, None) if run.name in EXPERIMENTS else None
    if run.profile == "quick":
        text += " " + (t["limited"].format(why=limit) if limit else t["sized"])
    elif run.profile != "full":
        text += " " + t["smaller"].format(profile=run.profile)
    return "differ", text


def _run(exp: Experiment, ref: Result | None, run: Result, links: list, lang: str) -> str:
    t = LABELS[lang]
    cls, sentence = agreement_text(ref, run, lang)
    metrics = "".join(
        f"<details><summary>{t['metrics']} (seed {seed})</summary>{_metrics_table(m)}</details>"
        for seed, m in zip(run.seeds, run.per_seed)
    )
    return (
        f'<div class="evidence run"><h3>{t["yours"]}{_badge(run, lang)}</h3>'
        f'<p class="muted">{t["profile"]}: {_esc(run.profile)} · {t["seeds"]} '
        f"{_esc(', '.join(map(str, run.seeds)))} · {t['time']}: {run.wall_time_s:.1f} s · "
        f"{_esc(_machine(run, lang))} · torch {_esc(torch_text(run))}</p>"
        f'<p class="{cls}">{_esc(sentence)}</p>'
        f"<p><b>{t['verdict']}</b>{t['sep']}{_esc(getattr(run.summary, lang))}</p>{_images(links)}"
        f"<details><summary>{t['criteria']}</summary>{_criteria_table(run, lang)}</details>{metrics}</div>"
    )


def _section(exp: Experiment, ref, ref_links, run, run_links, lang: str) -> str:
    t = LABELS[lang]
    parts = [f'<section id="{_esc(exp.name)}"><h2>{exp.lesson}. {_esc(getattr(exp.title, lang))}']
    if ref is not None:
        parts.append(_badge(ref, lang))
    parts.append("</h2>")
    parts.append(f"<p><b>{t['yardstick']}</b>{t['sep']}{_esc(getattr(exp.yardstick, lang))}</p>")
    if ref is not None:
        parts.append(_reference(exp, ref, ref_links, lang))
    else:
        parts.append(f'<p class="muted">{_esc(t["no_reference"].format(command=command(exp.name)))}</p>')
    if run is not None:
        parts.append(_run(exp, ref, run, run_links, lang))
    else:
        parts.append(f'<p class="muted">{_esc(t["no_run"].format(name=exp.name))}</p>')
    parts.append(f"<p><b>{t['history']}</b>{t['sep']}{_esc(getattr(exp.history, lang))}</p>")
    parts.append(f"<p><b>{t['mechanism']}</b>{t['sep']}{_esc(getattr(exp.mechanism, lang))}</p></section>")
    return "".join(parts)


def _page(lang: str, body: str, style: str) -> str:
    t = LABELS[lang]
    return (
        f'<!doctype html><html lang="{t["lang"]}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_esc(t['title'])}</title><style>{style}</style></head><body>"
        f'<nav><a href="{t["other_href"]}">{t["other"]}</a></nav><h1>{_esc(t["title"])}</h1>'
        f"<p>{_esc(t['intro'])}</p>{body}</body></html>"
    )


def _links(figures: Figures, source: Folder, result: Result, dest: str) -> list[tuple[str, str]]:
    placed = [(fig, figures.place(source, fig, dest)) for fig in result.figures]
    return [(fig, link) for fig, link in placed if link is not None]


def build_report(
    out_dir: str | os.PathLike,
    runs_dir: str | os.PathLike | None = None,
    *,
    reference: Folder | None = None,
    log: Callable[[str], object] = print,
) -> list[Path]:
    """Write ``index.html`` and ``index.zh.html`` into ``out_dir``.

    Reads the reference results (``reference``, default: the package's ``attnlab/reference``) and the
    runs in ``runs_dir`` (default ``out_dir/runs``); figures are copied under ``out_dir/figures/``.
    When no CJK font is found the pages are written without one and ``log`` gets one line saying how
    to install it.
    """
    out = Path(out_dir)
    runs = Path(runs_dir) if runs_dir is not None else out / "runs"
    ref_root = reference_root() if reference is None else reference
    refs, mine = reference_results(ref_root), run_results(runs)
    out.mkdir(parents=True, exist_ok=True)
    figures = Figures(out)
    ref_links = {n: _links(figures, ref_root / n, r, f"figures/reference/{n}") for n, r in refs.items()}
    run_links = {n: _links(figures, runs / n, r, f"figures/runs/{n}") for n, r in mine.items()}
    font = find_cjk_font()
    if font is None:
        log(
            f"no CJK font found: {out / 'index.zh.html'} relies on the reader's fonts for Chinese; get one with {FONT_HINT}"
        )
    written = []
    for lang, filename in PAGES:
        verdicts = {n: (r.verdict, LABELS[lang].get(r.verdict, r.verdict)) for n, r in refs.items()}
        body = course_html(lang, verdicts) + "".join(
            _section(exp, refs.get(n), ref_links.get(n, []), mine.get(n), run_links.get(n, []), lang)
            for n, exp in EXPERIMENTS.items()
        )
        page = _page(lang, body, CSS)
        characters = page_characters(page)
        if font is not None and characters:
            page = _page(lang, body, font_face(font, characters) + CSS)
        path = out / filename
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written
