"""The report's words in English and Chinese, and its style sheet."""

from __future__ import annotations

LABELS = {
    "en": {
        "lang": "en",
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
        "kind": "kind",
        "measured": "measured (seeds {seeds})",
        "sep": ". ",
        "rule": "rule",
        "primary": "primary",
        "secondary": "secondary",
        "result": "result",
        "passed": {True: "passed", False: "failed", None: "not judged"},
        "seeds": "seeds",
        "profile": "profile",
        "time": "wall time",
        "reference": "Reference result",
        "yours": "Your run",
        "machine": "machine",
        "machine_fmt": "{processor}, {threads} thread(s), {cpus} CPU(s)",
        "date": "finished",
        "commit": "commit",
        "dirty": "+ uncommitted changes",
        "seed_words": ("seed", "seeds"),
        "command": "command",
        "no_reference": "No reference result yet for this experiment; it is made with {command}.",
        "no_run": "You have not run it yet: attnlab run {name}",
        "agrees": "Agrees with the reference: the same verdict.",
        "differs": "Differs from the reference ({ref}), measured with the same criteria.",
        "smaller": "The {profile} profile trains smaller models for less time than the full profile, so a "
        "different verdict here is expected rather than a contradiction.",
        "limited": "The quick profile is too small to show all of this effect: {why}",
        "sized": "The quick profile is sized to show this effect, so the difference is worth a second look: "
        "run another seed (--seed) or the full profile (--profile full).",
        "alone": "There is no reference to compare with yet; this is your run alone.",
        "background": "Background",
        "intro": "Each section is one lesson of the course: the claim and its yardstick, then the evidence. "
        "The reference result is the experiment's full profile over all its seeds, shipped with attnlab; "
        "your run, when the runs folder has one, follows with whether it agrees. Numbers are measured, "
        "never quoted; verdicts say plainly when a published result does not reproduce.",
    },
    "zh": {
        "lang": "zh-CN",
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
        "kind": "类别",
        "measured": "实测值（种子 {seeds}）",
        "sep": "：",
        "rule": "规则",
        "primary": "主要",
        "secondary": "次要",
        "result": "结果",
        "passed": {True: "通过", False: "未通过", None: "无法判断"},
        "seeds": "种子",
        "profile": "配置",
        "time": "耗时",
        "reference": "参考结果",
        "yours": "你的运行",
        "machine": "机器",
        "machine_fmt": "{processor}，{threads} 个线程，{cpus} 个 CPU",
        "date": "完成时间",
        "commit": "提交",
        "dirty": "+ 未提交的修改",
        "seed_words": ("种子", "种子"),
        "command": "命令",
        "no_reference": "这个实验还没有参考结果；参考结果由 {command} 生成。",
        "no_run": "尚未运行：attnlab run {name}",
        "agrees": "与参考结果一致：结论相同。",
        "differs": "与参考结果（{ref}）不同，判据相同。",
        "smaller": "{profile} 配置训练的模型比 full 配置更小、时间更短，因此这里结论不同是预料之中的，并不构成矛盾。",
        "limited": "quick 配置规模太小，无法完整显示这个效应：{why}",
        "sized": "quick 配置的规模足以显示这个效应，因此这一差异值得再看一看：换一个种子（--seed）或运行 full 配置（--profile full）。",
        "alone": "目前还没有可比较的参考结果；这里只显示你的运行。",
        "background": "背景",
        "intro": "每一节对应课程的一课：先是结论及其参照，然后是证据。参考结果是该实验 full 配置在全部种子上的运行，"
        "随 attnlab 一起发布；若运行目录中有你的运行，则随后列出，并说明是否与参考结果一致。所有数字均为实测而非引用；"
        "若已发表的结果未能复现，结论会直接说明。",
    },
}

FONT_FAMILY = "attnlab-cjk"

CSS = """
body{font-family:"attnlab-cjk",system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC","PingFang SC",
"Microsoft YaHei",sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}
h1{font-size:1.6em}h3{font-size:1.05em;margin:.8em 0 .3em}section{border-top:1px solid #ddd;padding:1em 0}
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;font-size:.8em;margin-left:.5em}
.yes{background:#d8f3dc;color:#1b4332}.partly{background:#fff3bf;color:#7a5c00}
.no{background:#ffe5e5;color:#9d0208}.inconclusive{background:#e9ecef;color:#333}
.evidence{border-left:3px solid #cfd8dc;padding-left:.8em;margin:.6em 0}
.agree{font-weight:600}.differ{font-weight:600;color:#7a5c00}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}.muted{color:#777;font-size:.85em}
dl{display:grid;grid-template-columns:max-content auto;gap:.1em .8em;font-size:.85em}dt{color:#555}dd{margin:0}
nav{float:right}.course-section th{background:#f4f6f8}table.course small{color:#777}
"""
