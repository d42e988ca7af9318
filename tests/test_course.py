"""The course map: every section in order, every lesson on it once, lesson numbers from it, the
generated docs/course.md current, and the course's terms in the Chinese report page."""

from pathlib import Path

import pytest

from attnlab.cli import main
from attnlab.experiments import EXPERIMENTS
from attnlab.experiments.course import COURSE, lesson_number, lesson_order, uncovered
from attnlab.report.course import course_markdown, course_text

ROOT = Path(__file__).resolve().parents[1]
TERMS_ZH = [
    "机器翻译",
    "文本摘要",
    "问答",
    "图像识别",
    "梯度消失",
    "多模态",
    "泛化",
    "安全",
    "算力",
    "数据",
    "咖啡店",
]


def test_sections_follow_the_course():
    assert [s.number for s in COURSE] == list(range(1, 9))
    assert "注意力" in COURSE[1].title.zh and "咖啡店" in COURSE[1].title.zh  # lesson 2: the idea
    assert [s.title.en.split()[0] for s in COURSE[2:]] == [
        "Applications",
        "Principles",
        "Variants",
        "Future",
        "Advantages",
        "Summary",
    ]


def test_every_experiment_has_one_home_and_lessons_follow_the_map():
    homes = [n for s in COURSE for t in s.topics for n in t.lessons]
    assert sorted(homes) == sorted(EXPERIMENTS), "every experiment is the lesson of exactly one topic"
    seen = {n for s in COURSE for t in s.topics for n in t.see}
    assert seen <= set(EXPERIMENTS), f"the map points at unknown lessons: {seen - set(EXPERIMENTS)}"
    numbers = [EXPERIMENTS[n].lesson for n in lesson_order()]
    assert numbers == list(range(1, len(EXPERIMENTS) + 1))
    assert list(EXPERIMENTS) == lesson_order() and lesson_number("history") == 1
    assert lesson_number("no-such-lesson") is None


def test_course_command_prints_every_topic_in_both_languages(capsys):
    assert main(["course"]) == 0
    text = capsys.readouterr().out
    for section in COURSE:
        for topic in section.topics:
            assert topic.term.zh in text and topic.term.en in text
    for term in TERMS_ZH:
        assert term in text
    assert main(["course", "--lang", "en"]) == 0 and "机器翻译" not in capsys.readouterr().out


def test_uncovered_topics_are_named_in_docs_and_readme():
    missing = uncovered()
    assert missing, "the map names what it does not cover"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/course.md" in readme and "not covered" in readme
    for _, topic in missing:
        assert topic.missing.en in course_markdown()


def test_docs_course_md_is_current():
    committed = (ROOT / "docs" / "course.md").read_text(encoding="utf-8")
    assert committed == course_markdown(), (
        "docs/course.md is stale: run attnlab course --markdown docs/course.md"
    )


def test_terminal_map_marks_every_lesson_with_its_number():
    text = course_text(("en",))
    for name, exp in EXPERIMENTS.items():
        assert f"lesson {exp.lesson} {name}: attnlab run {name}" in text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_starts_with_the_course_map(tmp_path, lang):
    from attnlab.report import build_report

    pages = dict(zip(("en", "zh"), build_report(tmp_path, tmp_path / "no-runs", log=lambda _: None)))
    page = pages[lang].read_text(encoding="utf-8")
    assert page.index('id="course"') < min(page.index(f'id="{n}"') for n in EXPERIMENTS)
    for name in EXPERIMENTS:
        assert f'href="#{name}"' in page
    if lang == "zh":
        for term in TERMS_ZH:
            assert term in page
