"""Assemble experiment results into ``index.html`` (English) and ``index.zh.html`` (Chinese).

Static pages with inline CSS and relative image paths: they open offline, from any folder, with no
CDN or script.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from attnlab.experiments import EXPERIMENTS, Result, load_result

LABELS = {
    "en": {
        "title": "attnlab — the attention course, measured",
        "history": "History",
        "mechanism": "Mechanism",
        "yardstick": "Yardstick",
        "verdict": "Verdict",
        "metrics": "Measured",
        "other": "中文",
        "other_href": "index.zh.html",
        "yes": "reproduced",
        "partly": "partly reproduced",
        "no": "not reproduced",
        "inconclusive": "inconclusive",
        "criteria": "Criteria",
        "criterion": "criterion",
        "primary": "primary",
        "secondary": "secondary",
        "result": "result",
        "passed": {True: "passed", False: "failed", None: "not judged"},
        "seeds": "seeds",
        "profile": "profile",
        "time": "wall time",
        "missing": "not run yet: attnlab run {name}",
        "intro": "Each section is one lesson of the course: the idea, the mechanism, and an experiment run "
        "on this machine. Numbers are measured, never quoted; verdicts say plainly when a published "
        "result does not reproduce.",
    },
    "zh": {
        "title": "attnlab —— 注意力机制课程的实测报告",
        "history": "历史",
        "mechanism": "机制",
        "yardstick": "参照",
        "verdict": "结论",
        "metrics": "实测",
        "other": "English",
        "other_href": "index.html",
        "yes": "已复现",
        "partly": "部分复现",
        "no": "未复现",
        "inconclusive": "无法判断",
        "criteria": "判据",
        "criterion": "判据",
        "primary": "主要",
        "secondary": "次要",
        "result": "结果",
        "passed": {True: "通过", False: "未通过", None: "无法判断"},
        "seeds": "种子",
        "profile": "配置",
        "time": "耗时",
        "missing": "尚未运行：attnlab run {name}",
        "intro": "每一节对应课程的一课：思想、机制，以及在本机上运行的实验。所有数字均为实测而非引用；"
        "若已发表的结果未能复现，结论会直接说明。",
    },
}

CSS = """
body{font-family:system-ui,-apple-system,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:980px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.5}
h1{font-size:1.6em}section{border-top:1px solid #ddd;padding:1em 0}
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;font-size:.8em;margin-left:.5em}
.yes{background:#d8f3dc;color:#1b4332}.partly{background:#fff3bf;color:#7a5c00}
.no{background:#ffe5e5;color:#9d0208}.inconclusive{background:#e9ecef;color:#333}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}.muted{color:#777;font-size:.85em}
nav{float:right}
"""


def _metrics_table(metrics: dict) -> str:
    rows = []
    for key, value in metrics.items():
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        rows.append(f"<tr><th>{html.escape(key)}</th><td><code>{html.escape(text)}</code></td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _criteria_table(result: Result, lang: str) -> str:
    t = LABELS[lang]
    rows = [f"<tr><th>{t['criterion']}</th><th></th><th>{t['result']}</th></tr>"]
    for c in result.criteria:
        kind = t["primary"] if c["primary"] else t["secondary"]
        rows.append(
            f"<tr><td><code>{html.escape(c['name'])}</code> ({kind})</td><td>{html.escape(c[lang])}</td>"
            f"<td>{t['passed'][c['passed']]}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _section(exp, result: Result | None, lang: str, runs_rel: str) -> str:
    t = LABELS[lang]
    parts = [f'<section id="{exp.name}"><h2>{exp.lesson}. {html.escape(getattr(exp.title, lang))}']
    if result is not None:
        parts.append(f'<span class="badge {result.verdict}">{t[result.verdict]}</span>')
    parts.append("</h2>")
    parts.append(f"<p><b>{t['history']}.</b> {html.escape(getattr(exp.history, lang))}</p>")
    parts.append(f"<p><b>{t['mechanism']}.</b> {html.escape(getattr(exp.mechanism, lang))}</p>")
    if result is None:
        parts.append(f'<p class="muted">{html.escape(t["missing"].format(name=exp.name))}</p></section>')
        return "".join(parts)
    for fig in result.figures:
        parts.append(f'<img src="{runs_rel}/{exp.name}/{html.escape(fig)}" alt="{html.escape(fig)}">')
    parts.append(f"<p><b>{t['yardstick']}.</b> {html.escape(getattr(exp.yardstick, lang))}</p>")
    parts.append(f"<p><b>{t['verdict']}.</b> {html.escape(getattr(result.summary, lang))}</p>")
    parts.append(f"<details><summary>{t['criteria']}</summary>{_criteria_table(result, lang)}</details>")
    for seed, metrics in zip(result.seeds, result.per_seed):
        summary = f"{t['metrics']} (seed {seed})"
        parts.append(f"<details><summary>{summary}</summary>{_metrics_table(metrics)}</details>")
    parts.append(
        f'<p class="muted">{t["profile"]}: {result.profile} · {t["seeds"]} {", ".join(map(str, result.seeds))} · '
        f"{t['time']}: {result.wall_time_s:.1f} s · {html.escape(result.machine.get('processor', ''))}, "
        f"torch {html.escape(result.machine.get('torch', ''))}</p></section>"
    )
    return "".join(parts)


def build_report(out_dir: str | Path, runs_dir: str | Path | None = None) -> list[Path]:
    """Write ``index.html`` and ``index.zh.html`` into ``out_dir`` from ``runs_dir/NAME/results.json``."""
    out = Path(out_dir)
    runs = Path(runs_dir) if runs_dir is not None else out / "runs"
    results = {}
    for name in EXPERIMENTS:
        if (runs / name / "results.json").is_file():
            results[name] = load_result(runs / name)
    runs_rel = (
        Path(runs).resolve().relative_to(out.resolve()).as_posix()
        if runs.resolve().is_relative_to(out.resolve())
        else Path(runs).resolve().as_uri()
    )
    written = []
    for lang, filename in (("en", "index.html"), ("zh", "index.zh.html")):
        t = LABELS[lang]
        body = "".join(_section(exp, results.get(name), lang, runs_rel) for name, exp in EXPERIMENTS.items())
        page = (
            f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(t['title'])}</title><style>{CSS}</style></head><body>"
            f'<nav><a href="{t["other_href"]}">{t["other"]}</a></nav><h1>{html.escape(t["title"])}</h1>'
            f"<p>{html.escape(t['intro'])}</p>{body}</body></html>"
        )
        path = out / filename
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written
