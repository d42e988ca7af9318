"""Every experiment runs its smoke profile, writes what it promises, and the report shows it."""

import json
from html.parser import HTMLParser

import pytest

from attnlab.experiments import EXPERIMENTS, VERDICTS, get_experiment, load_result, run_experiment
from attnlab.report import build_report


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_smoke_profile_writes_results_and_figures(name, tmp_path):
    result = run_experiment(get_experiment(name), "smoke", tmp_path, seeds=[1])
    folder = tmp_path / name
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert data["name"] == name and data["profile"] == "smoke" and data["seeds"] == [1]
    assert data["per_seed"][0] and data["summary"]["en"] and data["summary"]["zh"]
    assert data["verdict"] in VERDICTS and data["criteria"]
    assert data["machine"]["torch"] and data["wall_time_s"] > 0 and data["provenance"]["attnlab"]
    for fig in result.figures:
        assert (folder / fig).read_bytes()[:4] == b"\x89PNG"
    assert load_result(folder).per_seed == result.per_seed
    exp = get_experiment(name)
    if exp.plot is not None:  # three identical seeds: min-max bars must not round below zero
        for fig in exp.plot([result.per_seed[0]] * 3, tmp_path):
            assert (tmp_path / fig).read_bytes()[:4] == b"\x89PNG"


# Training experiments whose smoke profile is run twice: same seed and threads -> same metrics.
DETERMINISTIC = ["long-range", "positions", "multitask"]


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_same_seed_same_metrics(name, tmp_path):
    exp = get_experiment(name)
    first = run_experiment(exp, "smoke", tmp_path / "a", seeds=[3], threads=1)
    second = run_experiment(exp, "smoke", tmp_path / "b", seeds=[3], threads=1)
    assert first.per_seed == second.per_seed and first.criteria == second.criteria
    assert first.machine["threads"] == 1


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.images, self.links = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs["src"])
        if tag in ("link", "script") and (attrs.get("href") or attrs.get("src") or "").startswith("http"):
            self.links.append(attrs)


def test_report_has_one_section_per_lesson_in_both_languages(tmp_path):
    name = next(iter(EXPERIMENTS))
    run_experiment(get_experiment(name), "smoke", tmp_path / "runs")
    en, zh = build_report(tmp_path)
    for page, marker in ((en, "Verdict"), (zh, "结论")):
        text = page.read_text(encoding="utf-8")
        parser = _Collect()
        parser.feed(text)
        assert parser.sections == ["course", *EXPERIMENTS]  # the course map first, then every lesson
        assert marker in text and not parser.links  # offline: nothing fetched from the network
        for src in parser.images:
            assert (tmp_path / src).is_file()
    assert "index.zh.html" in en.read_text(encoding="utf-8") and "index.html" in zh.read_text(
        encoding="utf-8"
    )


def test_bad_profile_and_unreadable_results_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        run_experiment(get_experiment(next(iter(EXPERIMENTS))), "huge", tmp_path)
    (tmp_path / "results.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(ValueError, match="not a readable experiment result"):
        load_result(tmp_path)


def test_positions_trains_only_its_profiles_schemes_and_refuses_one_without_the_compared_ones(
    tmp_path, monkeypatch
):
    from attnlab.experiments import positions

    smoke = dict(positions.SIZES["smoke"], schemes=("sinusoidal", "rope", "alibi"))
    monkeypatch.setitem(positions.SIZES, "smoke", smoke)
    result = run_experiment(get_experiment("positions"), "smoke", tmp_path, seeds=[0], threads=1)
    assert list(result.per_seed[0]["perplexity"]) == ["sinusoidal", "rope", "alibi"]
    assert result.config["schemes"] == ["sinusoidal", "rope", "alibi"]
    assert (tmp_path / "positions" / "extrapolation.png").is_file()
    monkeypatch.setitem(positions.SIZES, "smoke", dict(smoke, schemes=("sinusoidal", "alibi")))
    with pytest.raises(ValueError, match=r"must train \['rope'\]"):
        positions.run("smoke", tmp_path, 0)
