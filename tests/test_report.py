"""The report: reference results and your runs side by side, portable pages, embedded Chinese glyphs,
and docs/results.md generated from the reference results (made-up results, no training)."""

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from attnlab.cli import main
from attnlab.experiments import EXPERIMENTS, Result, Text
from attnlab.report import REGENERATE, agreement_text, build_report, markdown_text, write_markdown
from attnlab.report.assets import find_cjk_font, page_characters

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def fake_result(name, profile="full", verdict="yes", seeds=(0, 1, 2), dirty=False) -> Result:
    criteria = [
        {"name": "gap-beats-baseline", "primary": True, "passed": verdict != "no",
         "measured": {"a": [0.9] * len(seeds), "b": [0.5] * len(seeds), "gap": [0.4] * len(seeds)},
         "threshold": 0.1, "comparison": "every: a > b by more than 0.1",
         "en": "Attention beats the baseline by 0.4 (criterion: higher by more than 0.1): passed.",
         "zh": "注意力比基线高 0.4（判据：每个种子上都高出 0.1 以上）：通过。"},
        {"name": "error-small", "primary": False, "passed": True,
         "measured": {"values": [1.25e-7 * (s + 1) for s in seeds]}, "threshold": 2e-5,
         "comparison": "every: value <= 2e-05", "en": "The error is tiny: passed.", "zh": "误差很小：通过。"},
    ]  # fmt: skip
    return Result(
        name=name, profile=profile, seeds=list(seeds), per_seed=[{"accuracy": 0.9} for _ in seeds], config={},
        verdict=verdict, summary=Text(en=f"Verdict {verdict} for {name}.", zh=f"{name} 的结论：{verdict}。"),
        criteria=criteria, figures=["curve.png", f"seed-{seeds[0]}/map.png"], wall_time_s=12.5,
        machine={"processor": "x86_64", "cpus": 2, "threads": 1, "torch": "2.13.0+cpu"},
        provenance={"git": {"commit": "0123456789abcdef", "dirty": dirty}, "torch": "2.13.0+cpu"},
        finished="2030-01-02T03:04:05Z",
    )  # fmt: skip


def write_result(folder: Path, result: Result) -> Path:
    import json

    for fig in result.figures:
        (folder / result.name / fig).parent.mkdir(parents=True, exist_ok=True)
        (folder / result.name / fig).write_bytes(PNG + fig.encode())
    (folder / result.name / "results.json").write_text(json.dumps(result.to_json()), encoding="utf-8")
    return folder / result.name


@pytest.fixture
def reference(tmp_path):
    ref = tmp_path / "reference"
    write_result(ref, fake_result("scaled-dot-product", dirty=True))
    write_result(ref, fake_result("multihead", verdict="no"))
    return ref


def quick(name, verdict="yes"):
    return fake_result(name, profile="quick", verdict=verdict, seeds=(0,))


def write_quick_run(runs: Path, result: Result, settings: str | None = "today") -> Path:
    """A quick run as the demo leaves it: results.json and its seed's run.json with the settings digest."""
    from attnlab.report.sources import settings_digest

    folder = write_result(runs, result)
    digest = settings_digest(result.name) if settings == "today" else settings
    (folder / "seed-0" / "run.json").write_text(json.dumps({"seed": 0, "settings": digest}), encoding="utf-8")
    return folder


def sections(page: Path) -> dict[str, str]:
    text = page.read_text(encoding="utf-8")
    found = re.finditer(r'<section id="([^"]+)">(.*?)</section>', text, re.S)
    return {m.group(1): m.group(2) for m in found if m.group(1) != "course"}  # the lessons, not the map


def with_quick_limit(monkeypatch, name, en="needs 3,000 steps", zh="需要 3000 步"):
    from dataclasses import replace

    monkeypatch.setitem(EXPERIMENTS, name, replace(EXPERIMENTS[name], quick_limit=Text(en=en, zh=zh)))


def test_each_lesson_shows_the_reference_then_your_run(tmp_path, reference, monkeypatch):
    with_quick_limit(monkeypatch, "multihead")
    runs = tmp_path / "runs"
    write_result(runs, quick("scaled-dot-product"))  # same verdict: agrees
    write_result(runs, quick("multihead", verdict="yes"))  # the reference says no: differs
    write_result(runs, quick("history", verdict="partly"))  # no reference yet
    en, zh = build_report(tmp_path / "report", runs, reference=reference, log=lambda line: None)
    s = sections(en)
    assert list(s) == list(EXPERIMENTS)
    sdp = s["scaled-dot-product"]
    assert sdp.index("Reference result") < sdp.index("Your run") < sdp.index("History")
    for fact in ("0, 1, 2", "x86_64, 1 thread(s), 2 CPU(s)", "2030-01-02 03:04:05 UTC", "0123456",
                 "+ uncommitted changes", "2.13.0+cpu", "attnlab run scaled-dot-product --profile full",
                 "gap-beats-baseline", "primary", "secondary", "0.9 / 0.9 / 0.9",
                 "1.25e-07 / 2.5e-07 / 3.75e-07", "Verdict yes for scaled-dot-product.",
                 "Agrees with the reference"):  # fmt: skip
        assert fact in sdp, fact
    assert "Differs from the reference (not reproduced)" in s["multihead"]
    assert "The quick profile is too small to show all of this effect: needs 3,000 steps" in s["multihead"]
    assert "uncommitted" not in s["multihead"]
    assert "No reference result yet" in s["history"] and "no reference to compare with" in s["history"]
    assert "No reference result yet" in s["enc-dec-length"] and "not run it yet" in s["enc-dec-length"]
    zs = sections(zh)
    assert "参考结果" in zs["scaled-dot-product"] and "与参考结果一致" in zs["scaled-dot-product"]
    assert "的结论：yes。" in zs["scaled-dot-product"] and "+ 未提交的修改" in zs["scaled-dot-product"]
    assert (
        "quick 配置规模太小，无法完整显示这个效应：需要 3000 步" in zs["multihead"]
        and "还没有参考结果" in zs["history"]
    )


def test_agreement_wording(monkeypatch):
    from dataclasses import replace

    ref = fake_result("multihead", verdict="no")
    assert agreement_text(ref, quick("multihead", "no"), "en") == (
        "agree",
        "Agrees with the reference: the same verdict.",
    )
    with_quick_limit(monkeypatch, "multihead")
    cls, text = agreement_text(ref, quick("multihead", "yes"), "en")
    assert cls == "differ" and text.endswith(
        "The quick profile is too small to show all of this effect: needs 3,000 steps"
    )
    # a quick profile sized to show the effect: a difference deserves a second look
    monkeypatch.setitem(EXPERIMENTS, "multihead", replace(EXPERIMENTS["multihead"], quick_limit=None))
    cls, text = agreement_text(ref, quick("multihead", "yes"), "en")
    assert cls == "differ" and "sized to show this effect" in text and "--seed" in text
    smoke = fake_result("multihead", profile="smoke", verdict="yes", seeds=(0,))
    cls, text = agreement_text(ref, smoke, "en")
    assert cls == "differ" and "smoke profile trains smaller models" in text
    cls, text = agreement_text(ref, fake_result("multihead", verdict="partly"), "en")
    assert cls == "differ" and "smaller" not in text and "quick" not in text  # a full run: a real difference
    assert agreement_text(None, quick("multihead"), "zh")[0] == "muted"


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def images(page: Path) -> list[str]:
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.sources


@pytest.mark.parametrize("inside", [False, True], ids=["runs-outside-out", "runs-inside-out"])
def test_figure_links_are_relative_and_resolve_inside_the_report_folder(tmp_path, reference, inside):
    out = tmp_path / "report"
    runs = out / "runs" if inside else tmp_path / "elsewhere" / "runs"
    write_result(runs, quick("scaled-dot-product"))
    bad = quick("multihead")
    bad.figures = ["../../reference/multihead/curve.png", "/etc/hostname", "missing.png"]
    write_result(runs, quick("history"))
    (runs / "multihead").mkdir(parents=True)
    (runs / "multihead" / "results.json").write_text(
        __import__("json").dumps(bad.to_json()), encoding="utf-8"
    )
    en, _ = build_report(out, runs, reference=reference, log=lambda line: None)
    moved = shutil.move(str(out), str(tmp_path / "moved"))  # the folder works wherever it goes
    sources = images(Path(moved) / en.name)
    assert len(sources) == 2 * 2 + 2 * 2  # two references and two runs with two figures each
    for src in sources:
        assert not src.startswith(("/", "file:", "http")) and ".." not in src.split("/")
        assert (Path(moved) / src).resolve().is_relative_to(Path(moved).resolve())
        assert (Path(moved) / src).read_bytes().startswith(PNG)
    assert "figures/reference/scaled-dot-product/seed-0/map.png" in sources
    expected = "runs/history/curve.png" if inside else "figures/runs/history/curve.png"
    assert expected in sources


@pytest.fixture
def cjk_font():
    path = find_cjk_font()
    if path is None:
        pytest.skip("no CJK font installed (pip install 'attnlab[fonts]')")
    return path


def embedded_font(page: str):
    from fontTools.ttLib import TTFont

    match = re.search(r"@font-face\{[^}]*url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", page)
    assert match, "no embedded @font-face"
    data = base64.b64decode(match.group(1))
    return TTFont(io.BytesIO(data)), len(data)


def test_chinese_page_embeds_a_subset_of_a_cjk_font_with_its_characters(tmp_path, reference, cjk_font):
    from fontTools.ttLib import TTFont

    en, zh = build_report(tmp_path / "report", tmp_path / "none", reference=reference)
    page = zh.read_text(encoding="utf-8")
    font, size = embedded_font(page)
    cmap = set(font.getBestCmap())
    source = set(TTFont(cjk_font, fontNumber=0, lazy=True).getBestCmap())
    characters = page_characters(page)
    assert "参" in characters and "结" in characters
    assert {ord(ch) for ch in characters} & source <= cmap  # every character of the page the font has
    assert len(cmap) < 4 * len(characters) + 200 and size < 1_500_000  # a subset, not the whole font
    en_font, _ = embedded_font(en.read_text(encoding="utf-8"))  # the English page links to 中文
    assert {ord("中"), ord("文")} <= set(en_font.getBestCmap())


def test_without_a_cjk_font_the_page_is_written_and_says_how_to_get_one(tmp_path, reference, monkeypatch):
    import attnlab.report.html as report_html

    monkeypatch.setattr(report_html, "find_cjk_font", lambda: None)
    lines = []
    _, zh = build_report(tmp_path / "report", tmp_path / "none", reference=reference, log=lines.append)
    assert len(lines) == 1 and "pip install 'attnlab[fonts]'" in lines[0]
    assert "@font-face" not in zh.read_text(encoding="utf-8") and "结论" in zh.read_text(encoding="utf-8")


def test_markdown_is_deterministic_and_generated_from_the_reference_only(tmp_path, reference):
    docs = tmp_path / "docs"
    (docs / "experiments").mkdir(parents=True)
    (docs / "experiments" / "multihead.md").write_text("# multihead\n", encoding="utf-8")
    first = write_markdown(docs / "results.md", reference).read_bytes()
    again = write_markdown(tmp_path / "other" / "docs" / "results.md", reference)
    assert markdown_text(reference, docs).encode() == first
    text = first.decode()
    assert "[`multihead`](experiments/multihead.md)" in text and "[`scaled-dot-product`](" not in text
    lesson = EXPERIMENTS["multihead"].lesson
    assert f"| {lesson} | [`multihead`](experiments/multihead.md) | Michel et al. 2019" in text
    assert "| **no (not reproduced)** | 0, 1, 2 |" in text
    assert text.count("no reference result yet") == len(EXPERIMENTS) - 2
    assert "Attention beats the baseline by 0.4" in text and "注意力" not in text  # English sentences
    assert "attnlab run multihead --profile full" in text and "finished 2030-01-02 03:04:05 UTC" in text
    assert "commit 0123456 + uncommitted changes" in text and "make demo" in text
    assert again.read_bytes() == first.replace(b"[`multihead`](experiments/multihead.md)", b"`multihead`")


def test_quick_verdicts_are_recorded_and_counted_in_the_markdown(tmp_path, reference, monkeypatch, capsys):
    import json

    import attnlab.report.sources as sources
    from attnlab.experiments.registry import profile_settings

    with_quick_limit(monkeypatch, "multihead")
    runs = tmp_path / "runs"
    write_quick_run(runs, quick("scaled-dot-product"))  # the reference says yes: agrees
    write_quick_run(runs, quick("multihead", verdict="yes"))  # the reference says no: differs, cannot show it
    write_quick_run(runs, quick("history", verdict="partly"), settings="0123abcd")  # other settings: refused
    monkeypatch.setattr(sources, "reference_root", lambda: reference)
    assert main(["report", "--record-quick", str(runs)]) == 2
    assert "history ran with other settings than today's quick profile" in capsys.readouterr().err
    assert not (reference / "quick.json").exists()
    write_quick_run(runs, quick("history", verdict="partly"))  # rerun: no reference, so not counted
    assert main(["report", "--record-quick", str(runs)]) == 0
    record = json.loads((reference / "quick.json").read_text(encoding="utf-8"))
    assert record["verdicts"]["multihead"] == {
        "verdict": "yes",
        "seeds": [0],
        "threads": 1,
        "wall_time_s": 12.5,
        "settings": sources.settings_digest("multihead"),
    }
    assert sources.stale_quick_verdicts(record) == []
    monkeypatch.setitem(profile_settings("multihead", "quick"), "steps", 123456)  # the profile changed since
    assert sources.stale_quick_verdicts(record) == ["multihead"]
    assert record["commit"] == "0123456" and record["machine"]["cpus"] == 2
    text = markdown_text(reference)
    assert "**1 of 2** quick verdicts agree with the reference. Of the 1 that differ, 1 have quick" in text
    assert "| yes (differs; too small) |" in text and "| yes (agrees) |" in text
    assert "2 CPU(s), 1 thread(s) per run, commit 0123456" in text
    assert "| partly |" in text  # a recorded quick verdict without a reference
    assert "Quick profile: too small to show all of the effect: needs 3,000 steps" in text
    write_result(runs, fake_result("multihead", verdict="no"))  # a full run in the folder: refused
    assert main(["report", "--record-quick", str(runs)]) == 2
    assert "expected quick runs only, multihead" in capsys.readouterr().err
    assert main(["report", "--record-quick", str(tmp_path / "empty")]) == 2
    with pytest.raises(SystemExit) as stop:  # one of the two, not both
        main(["report", "--record-quick", str(runs), "--markdown", str(tmp_path / "r.md")])
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_committed_results_md_matches_the_committed_reference_results():
    committed = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    generated = markdown_text(ROOT / "src" / "attnlab" / "reference", ROOT / "docs")
    if committed != generated:
        diff = next(
            (f"line {i + 1}: committed {a!r}, generated {b!r}"
             for i, (a, b) in enumerate(zip(committed.splitlines(), generated.splitlines())) if a != b),
            "the files differ in length",
        )  # fmt: skip
        pytest.fail(f"docs/results.md is stale ({diff}); regenerate it with `{REGENERATE}`")


def test_committed_quick_verdicts_were_recorded_with_todays_quick_profiles():
    from attnlab.report.sources import quick_record, stale_quick_verdicts

    record = quick_record(ROOT / "src" / "attnlab" / "reference")
    assert set(record["verdicts"]) == set(EXPERIMENTS), "every lesson's quick verdict is recorded"
    stale = stale_quick_verdicts(record)
    assert not stale, (
        f"quick profiles changed since quick.json was recorded: {stale}; run `make demo` on an idle "
        f"machine, then `attnlab report --record-quick attnlab-report/runs` and `{REGENERATE}`"
    )


def test_report_command_writes_markdown_and_html(tmp_path, capsys):
    assert main(["report", "--markdown", str(tmp_path / "results.md")]) == 0
    assert "# Results of the full profiles" in (tmp_path / "results.md").read_text(encoding="utf-8")
    assert not (tmp_path / "index.html").exists()
    assert main(["report", "--out", str(tmp_path / "r"), "--runs", str(tmp_path / "none")]) == 0
    assert "index.zh.html" in capsys.readouterr().out


def test_demo_counts_quick_verdicts_agreeing_with_the_reference(tmp_path, reference, monkeypatch, capsys):
    import attnlab.experiments as experiments
    import attnlab.report as report

    def run_experiment(exp, profile, runs, seeds=None, threads=None, force=False):
        assert force  # the demo always reruns live
        result = fake_result(exp.name, profile=profile, verdict="yes", seeds=(0,))
        write_result(Path(runs), result)
        return result

    refs = {
        "scaled-dot-product": fake_result("scaled-dot-product"),
        "multihead": fake_result("multihead", verdict="no"),
    }
    monkeypatch.setattr(experiments, "run_experiment", run_experiment)
    monkeypatch.setattr(report, "reference_result", refs.get)
    assert main(["demo", "--out", str(tmp_path), "--profile", "smoke", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "smoke verdicts agreeing with the reference: 1 of 2 with a reference" in out
    assert "too small to show the effects: a different verdict is expected" in out
    assert "Agrees with the reference" in (tmp_path / "index.html").read_text(encoding="utf-8")
    with_quick_limit(monkeypatch, "multihead")
    assert main(["demo", "--out", str(tmp_path), "--profile", "quick", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "multihead (12.5 s): yes (reference: no, differs; expected: its quick profile is too small" in out
    assert "of the 1 that differ, 1 have quick profiles too small to show all of it" in out


def _steps(profile) -> set[str]:
    """Every ``steps`` value in a profile (profiles may nest per part), as the texts write them."""
    if not isinstance(profile, dict):
        return set()
    found = {format(profile["steps"], ",")} if "steps" in profile else set()
    return found.union(*(_steps(v) for v in profile.values()))


def test_quick_limits_name_experiments_and_the_step_counts_of_both_profiles():
    from attnlab.experiments.quick_limits import QUICK_LIMITS
    from attnlab.experiments.registry import profile_settings

    assert set(QUICK_LIMITS) <= set(EXPERIMENTS)
    for name, why in QUICK_LIMITS.items():
        exp = EXPERIMENTS[name]
        assert exp.quick_limit is why and why.en and re.search(r"[\u4e00-\u9fff]", why.zh), name
        for profile in ("quick", "full"):  # a changed profile must change its sentence too
            steps = _steps(profile_settings(name, profile))
            assert any(s in why.en and s in why.zh for s in steps), (name, profile, steps)


def test_demo_starts_the_longest_recorded_quick_runs_first(monkeypatch):
    import attnlab.report.sources as sources
    from attnlab.report.commands import _longest_first

    record = {"verdicts": {"history": {"wall_time_s": 5.0}, "multihead": {"wall_time_s": 30.0}}}
    monkeypatch.setattr(sources, "quick_record", lambda: record)
    names = ["history", "scaled-dot-product", "multihead"]  # scaled-dot-product: no recorded time
    ordered = _longest_first([EXPERIMENTS[n] for n in names])
    assert [e.name for e in ordered] == ["scaled-dot-product", "multihead", "history"]
    monkeypatch.setattr(sources, "quick_record", lambda: None)  # nothing recorded: the course's order
    assert [e.name for e in _longest_first([EXPERIMENTS[n] for n in names])] == names


def test_demo_runs_experiments_in_parallel_processes_timing_ones_first_and_alone(
    tmp_path, monkeypatch, capsys
):
    import attnlab.experiments as experiments

    names = ["scaled-dot-product", "variable-length", "induction-heads"]  # variable-length is timed
    monkeypatch.setattr(experiments, "EXPERIMENTS", {n: EXPERIMENTS[n] for n in names})
    assert main(["demo", "--out", str(tmp_path), "--profile", "smoke", "--jobs", "2"]) == 0
    captured = capsys.readouterr()
    assert "2 experiments at a time, 1 torch thread each" in captured.err
    lines = [line for line in captured.out.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and "variable-length" in lines[0]  # timing experiments first, alone
    for name in names:
        result = json.loads((tmp_path / "runs" / name / "results.json").read_text(encoding="utf-8"))
        assert result["profile"] == "smoke"
        if name != "variable-length":
            assert result["machine"]["threads"] == 1  # one thread per worker process
    assert main(["demo", "--out", str(tmp_path), "--jobs", "0"]) == 2


def test_a_result_resumed_from_another_commit_names_each_seeds_commit(tmp_path):
    from attnlab.experiments import get_experiment, run_experiment
    from attnlab.report.sources import commit_text

    exp = get_experiment("scaled-dot-product")
    run_experiment(exp, "smoke", tmp_path, seeds=[0])
    path = tmp_path / exp.name / "seed-0" / "run.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["provenance"]["git"] = {"commit": "a" * 40, "dirty": True}  # seed 0 ran from an older checkout
    path.write_text(json.dumps(record), encoding="utf-8")
    result = run_experiment(exp, "smoke", tmp_path, seeds=[1])  # resumed: judges seeds 0 and 1
    by_seed = result.provenance["git_by_seed"]
    assert sorted(by_seed) == ["0", "1"] and by_seed["0"] == {"commit": "a" * 40, "dirty": True}
    assert by_seed["1"] != by_seed["0"] and result.provenance["git"] == by_seed["0"]  # the first seed's
    text = commit_text(result)
    assert text.startswith("aaaaaaa + uncommitted changes (seed 0), ") and text.endswith(" (seed 1)")
    same = fake_result("multihead")
    same.provenance["git_by_seed"] = {s: same.provenance["git"] for s in ("0", "1", "2")}
    assert commit_text(same) == "0123456"  # one checkout for every seed: just its hash


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_committed_reference_is_what_todays_criteria_make_of_its_seeds(name):
    from attnlab.experiments.base import judge

    folder = ROOT / "src" / "attnlab" / "reference" / name
    if not (folder / "results.json").is_file():
        pytest.skip(f"no reference result for {name}")
    committed = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    records = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("seed-*/run.json")]
    records = sorted((r for r in records if r["seed"] in committed["seeds"]), key=lambda r: r["seed"])
    assert [r["seed"] for r in records] == committed["seeds"], "every judged seed's run.json is committed"
    assert [r["metrics"] for r in records] == committed["per_seed"]
    assert all(r["profile"] == "full" and r["config"] == committed["config"] for r in records)
    judged = judge(EXPERIMENTS[name], records, folder.parent, plot=False).to_json()  # no figures drawn
    for key in ("verdict", "criteria", "summary", "per_seed", "config", "provenance", "machine", "finished"):
        assert judged[key] == committed[key], f"{key} differs from what today's code makes of {name}'s seeds"
    assert committed["provenance"]["git_by_seed"] == {str(r["seed"]): r["provenance"]["git"] for r in records}


def test_the_chinese_page_names_each_seeds_commit_in_chinese(tmp_path, reference):
    result = fake_result("multihead", verdict="no")
    other = {"commit": "fedcba9876543210", "dirty": False}
    result.provenance["git_by_seed"] = {"0": result.provenance["git"], "1": other, "2": other}
    write_result(reference, result)
    en, zh = build_report(
        tmp_path / "report", tmp_path / "no-runs", reference=reference, log=lambda line: None
    )
    assert "0123456 (seed 0), fedcba9 (seeds 1, 2)" in en.read_text(encoding="utf-8")
    assert "0123456 (种子 0), fedcba9 (种子 1, 2)" in zh.read_text(encoding="utf-8")
