"""Generated tasks: determinism per seed, and answers checked by computations independent of the
generators (datetime, arithmetic, our own parsers and evaluators)."""

import datetime as dt
import random
import re
import statistics

import numpy as np
import pytest

from attnlab.data import TASKS, generate
from attnlab.data.tasks import arithmetic, coffee_shop, listops, synthetic

GENERATED = [name for name, info in TASKS.items() if info.kind == "generated"]


@pytest.fixture(params=GENERATED)
def task(request):
    info = TASKS[request.param]
    ok, message = info.available()
    if not ok:
        pytest.skip(message)
    return request.param


def _plain(examples):
    return [e.to_dict() for e in examples]


def test_same_seed_same_examples_and_prefix_stable(task):
    a = generate(task, 12, seed=7)
    assert _plain(a) == _plain(generate(task, 12, seed=7))
    assert _plain(generate(task, 5, seed=7)) == _plain(a[:5])
    assert _plain(a) != _plain(generate(task, 12, seed=8))
    assert _plain(a) != _plain(generate(task, 12, seed=7, split="test"))


def test_global_random_state_untouched(task):
    state, np_state = random.getstate(), np.random.get_state()[1].copy()
    generate(task, 5, seed=1)
    assert random.getstate() == state
    assert (np.random.get_state()[1] == np_state).all()


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="length"):
        synthetic.copy(3, length=(5, 2))
    with pytest.raises(ValueError, match="distance"):
        synthetic.recall(3, n_pairs=4, distance=4)
    with pytest.raises(ValueError, match="n must be"):
        generate("copy", -1)
    with pytest.raises(ValueError, match="no parameter 'bogus'"):
        generate("copy", 2, bogus=1)
    with pytest.raises(ValueError, match="unknown task"):
        generate("nope", 2)
    with pytest.raises(ValueError, match="split"):
        generate("copy", 2, split="dev")


# -- synthetic probes --------------------------------------------------------------------------------
def test_copy_reverse_sort():
    for e in synthetic.copy(20, length=(1, 9), vocab_size=5, offset=4):
        assert e.tgt == e.src and 1 <= len(e.src) <= 9 and all(4 <= t < 9 for t in e.src)
    for e in synthetic.reverse(20):
        assert e.tgt == [e.src[len(e.src) - 1 - i] for i in range(len(e.src))]
    for e in synthetic.sort(20):
        assert all(a <= b for a, b in zip(e.tgt, e.tgt[1:])) and sorted(e.src) == e.tgt


@pytest.mark.parametrize("distance", [None, 0, 5])
def test_recall_answer_and_distance(distance):
    for e in synthetic.recall(30, n_pairs=6, distance=distance, offset=3):
        pairs = dict(zip(e.src[0:-1:2], e.src[1:-1:2]))
        assert len(pairs) == 6 and e.tgt == [pairs[e.src[-1]]]
        assert e.src[e.meta["key_pos"]] == e.src[-1]
        assert e.meta["distance_tokens"] == len(e.src) - 1 - e.meta["value_pos"]
        if distance is not None:
            assert e.meta["distance"] == distance


def test_copy_memory_layout():
    for e in synthetic.copy_memory(5, delay=30, n_symbols=4, n_categories=6):
        assert len(e.src) == len(e.tgt) == 30 + 8
        assert e.src[29 + 4] == 7 and e.src.count(7) == 1
        assert e.tgt[-4:] == e.src[:4] and set(e.tgt[:-4]) == {0}
        assert all(1 <= s <= 6 for s in e.src[:4])


@pytest.mark.parametrize("distance", [None, 17])
def test_adding_target_is_sum_of_marked(distance):
    for e in synthetic.adding(20, length=40, distance=distance):
        marked = [v for v, m in e.src if m == 1.0]
        assert len(marked) == 2 and e.tgt == pytest.approx(sum(marked))
        i, j = (t for t, (_, m) in enumerate(e.src) if m == 1.0)
        assert (j - i == distance) if distance else (i < 20 <= j)


# -- dates -------------------------------------------------------------------------------------------
MONTHS = {
    "en": "January February March April May June July August September October November December",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
}
WEEKDAYS = {
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
    "zh": "星期一 星期二 星期三 星期四 星期五 星期六 星期日",
}


def test_dates_answers_fields_and_alignment():
    pytest.importorskip("babel")
    from attnlab.data.tasks.dates import alignment_links, dates

    seen_langs = set()
    for e in dates(200, seed=3, years=(1000, 2999)):
        date = dt.date.fromisoformat(e.tgt)
        lang, f = e.meta["lang"], e.meta["fields"]
        seen_langs.add(lang)
        assert int(e.src[slice(*f["year"])]) == date.year
        assert int(e.src[slice(*f["day"])]) == date.day
        month = e.src[slice(*f["month"])]
        if month.isdigit():
            assert int(month) == date.month
        else:
            full = MONTHS[lang].split()[date.month - 1]
            assert full.lower().startswith(month.rstrip(".").lower()), (month, e.src)
        if "weekday" in f:
            assert e.src[slice(*f["weekday"])] == WEEKDAYS[lang].split()[date.weekday()]
        # Every output character points at the field it came from; separators at nothing.
        align = e.meta["alignment"]
        assert len(align) == len(e.tgt) == 10
        assert [i for i, span in enumerate(align) if span is None] == [4, 7]
        assert align[0] == f["year"] and align[5] == f["month"] and align[9] == f["day"]
        links = alignment_links(e.meta)
        assert all(e.src[s].strip() for _, s in links)
    assert seen_langs == {"en", "fr", "de", "zh"}


def test_dates_examples_from_the_course():
    pytest.importorskip("babel")
    from attnlab.data.tasks.dates import render

    day = dt.date(2021, 3, 25)
    assert render(day, "en_GB", "EEEE, d MMMM y")[0] == "Thursday, 25 March 2021"
    assert render(day, "de_DE", "d. MMMM y")[0] == "25. März 2021"
    text, fields = render(day, "zh_Hans_CN", "y年M月d日EEEE")
    assert text == "2021年3月25日星期四"
    assert fields == {"year": [0, 4], "month": [5, 6], "day": [7, 9], "weekday": [10, 13]}


def test_dates_lang_and_styles():
    pytest.importorskip("babel")
    from attnlab.data.tasks.dates import dates

    assert {e.meta["lang"] for e in dates(20, lang="de")} == {"de"}
    assert all("weekday" in e.meta["fields"] for e in dates(20, styles=("full",)))
    with pytest.raises(ValueError, match="lang"):
        dates(2, lang="es")


# -- numbers -----------------------------------------------------------------------------------------
def zh_to_int(text):
    """A small independent reader of Chinese numerals below 10**12."""
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")} | {
        c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")
    }
    units = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
    total, section, num = 0, 0, 0
    for ch in text:
        if ch in digits:
            num = digits[ch]
        elif ch in units:
            section += (num or 1) * units[ch]
            num = 0
        elif ch == "万":
            total += (section + num) * 10**4
            section = num = 0
        elif ch == "亿":
            total = (total + section + num) * 10**8
            section = num = 0
        else:
            raise AssertionError(f"unexpected character {ch!r} in {text!r}")
    return total + section + num


EN_SMALL = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
)
EN_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"


def en_to_int(text):
    """A small independent reader of English number words."""
    small = {w: i for i, w in enumerate(EN_SMALL.split(" "))}
    small |= {w: 10 * i for i, w in enumerate(EN_TENS.split(" "), 2)}
    scales = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
    total = current = 0
    for word in text.replace("-", " ").split():
        if word == "and":
            continue
        if word == "hundred":
            current *= 100
        elif word in scales:
            total += current * scales[word]
            current = 0
        else:
            current += small[word]
    return total + current


def test_numbers_zh_both_directions_and_styles():
    pytest.importorskip("cn2an")
    from attnlab.data.tasks.numbers import numbers_zh

    for e in numbers_zh(100, style="mixed", max_value=10**12 - 1):
        assert zh_to_int(e.src) == int(e.tgt) == e.meta["value"]
    for e in numbers_zh(30, direction="an2zh", style="up"):
        assert zh_to_int(e.tgt) == int(e.src)
        assert not set(e.tgt) & set("一二三四五六七八九十百千")
    assert zh_to_int("一万零一") == 10001


def test_numbers_en_words():
    from attnlab.data.tasks.numbers import english_words, numbers_en

    for e in numbers_en(100, max_value=10**15 - 1, use_and="mixed"):
        assert en_to_int(e.src) == int(e.tgt)
    assert english_words(123) == "one hundred twenty-three"
    assert english_words(105, use_and=True) == "one hundred and five"
    assert english_words(2_000_010) == "two million ten"
    for n in random.Random(0).sample(range(10**7), 300):
        assert en_to_int(english_words(n)) == n


# -- ListOps -----------------------------------------------------------------------------------------
def listops_eval(text):
    """Iterative stack evaluator (the generator evaluates trees recursively)."""
    stack = []
    for tok in text.split():
        if tok.startswith("["):
            stack.append([tok[1:]])
        elif tok == "]":
            op, *args = stack.pop()
            sorted_args = sorted(args)
            mid = len(args) // 2
            value = {
                "MIN": sorted_args[0],
                "MAX": sorted_args[-1],
                "SM": sum(args) % 10,
                "MED": sorted_args[mid] if len(args) % 2 else (sorted_args[mid - 1] + sorted_args[mid]) // 2,
            }[op]
            if not stack:
                return value
            stack[-1].append(value)
        else:
            stack[-1].append(int(tok))
    raise AssertionError("unbalanced expression")


def test_listops_labels_lengths_and_grammar():
    for e in listops.listops(200, seed=5, max_depth=5, max_args=6, min_length=5, max_length=80):
        tokens = e.src.split()
        assert listops_eval(e.src) == e.tgt and 0 <= e.tgt <= 9
        assert 5 <= len(tokens) == e.meta["length"] <= 80 and e.meta["depth"] <= 5
        assert tokens[0] in {"[MIN", "[MAX", "[MED", "[SM"}
        assert all(t in {"[MIN", "[MAX", "[MED", "[SM", "]"} or t in "0123456789" for t in tokens)


def test_listops_median_follows_lra():
    assert listops.apply("MED", [1, 4]) == int(np.median([1, 4])) == 2
    assert listops.apply("MED", [3, 1, 2]) == 2 == int(statistics.median([3, 1, 2]))
    assert listops_eval("[MAX 2 9 [MIN 4 7 ] 0 ]") == 9
    with pytest.raises(ValueError, match="min_length"):
        listops.listops(1, max_depth=1, max_args=2, min_length=50, max_length=60)


# -- stories -----------------------------------------------------------------------------------------
STORY_RULES = {
    "en": (r"(\w+) (?:went|moved|travelled) to the (\w+)\.", r"(\w+) (?:picked up|grabbed) the (\w+)\."),
    "zh": (r"(.+?)(?:去了|走进了|跑到了)(.+)。", r"(.+?)(?:拿起了|拿走了)(.+)。"),
}
QUESTION_RULES = {
    "en": {
        "where": r"Where is (\w+)\?",
        "count": r"How many times did (\w+) go to the (\w+)\?",
        "object": r"Where is the (\w+)\?",
    },
    "zh": {"where": r"(.+)在哪里？", "count": r"(.+)去了几次(.+)？", "object": r"(.+)在哪里？"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_story_answers_by_replaying_the_story(lang):
    move, take = STORY_RULES[lang]
    seen = set()
    for e in generate(f"stories-{lang}", 150, seed=2, n_sentences=(3, 12)):
        where, holder, visits = {}, {}, {}
        for s, t in e.meta["sentences"]:
            sentence = e.src[s:t]
            if m := re.fullmatch(move, sentence):
                where[m[1]] = m[2]
                visits[m[1], m[2]] = visits.get((m[1], m[2]), 0) + 1
            else:
                m = re.fullmatch(take, sentence)
                assert m, sentence
                holder[m[2]] = m[1]
        qtype = e.meta["qtype"]
        seen.add(qtype)
        q = re.fullmatch(QUESTION_RULES[lang][qtype], e.meta["question"])
        if qtype == "where":
            expected = where[q[1]]
        elif qtype == "count":
            expected = str(visits[q[1], q[2]])
        else:
            expected = where[holder[q[1]]]
        assert e.tgt == expected
        assert e.src[slice(*e.meta["question_span"])] == e.meta["question"]
        # The evidence really holds the answer.
        for s, t in e.meta["answer_spans"]:
            assert e.src[s:t] == e.tgt
            assert any(a <= s and t <= b for a, b in e.meta["evidence_spans"])
        if qtype == "count":
            assert len(e.meta["evidence_sentences"]) == int(e.tgt)
            assert all(q[2] in e.src[a:b] and q[1] in e.src[a:b] for a, b in e.meta["evidence_spans"])
        else:
            assert e.meta["answer_spans"]
    assert seen == {"where", "count", "object"}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_coffee_shop_evidence(lang):
    examples = generate("coffee-shop", 60, seed=1, lang=lang, n_fillers=(0, 6))
    for e in examples:
        keys = e.meta["key_spans"]
        place = e.src[slice(*keys["place"])]
        assert e.src[slice(*keys["place_again"])] == place
        for s, t in e.meta["answer_spans"]:
            assert e.src[s:t] == e.tgt
            assert any(a <= s and t <= b for a, b in e.meta["evidence_spans"])
        if e.meta["qtype"] == "first":
            assert e.tgt == place
        if e.meta["qtype"] == "now":
            s, t = keys["final"]
            assert e.tgt in e.src[s:t]
    assert {e.meta["qtype"] for e in examples} == {"first", "order", "now"}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_coffee_shop_asks_how_many_times_and_where(lang):
    """几次 / how many times: the answer is the number of visits, and each visit's mention of the shop
    is an answer span; "where" points at the shop; "……" replaces the fillers when asked for."""
    examples = generate("coffee-shop", 90, seed=2, lang=lang, questions=("times", "where"), ellipsis=0.5)
    counts = {"zh": ["一次", "两次", "三次"], "en": ["once", "twice", "three times"]}[lang]
    for e in examples:
        place = e.src[slice(*e.meta["key_spans"]["place"])]
        if e.meta["qtype"] == "times":
            assert e.tgt == counts[e.meta["visits"] - 1]
            assert [e.src[s:t] for s, t in e.meta["answer_spans"]] == [place] * e.meta["visits"]
            assert e.src.count(place) == e.meta["visits"] + 2  # visits, the closing and the question
        else:
            assert e.meta["qtype"] == "where" and e.tgt == place
    assert {e.meta["visits"] for e in examples} == {1, 2, 3}
    assert sum("……" in e.src or "…" in e.src for e in examples) > 20
    assert {e.tgt for e in examples} <= coffee_shop.answers(lang, ("times", "where"))
    with pytest.raises(ValueError, match="ellipsis"):
        generate("coffee-shop", 1, ellipsis=2.0)


def test_coffee_shop_story_from_the_course():
    found = [
        e
        for e in generate("coffee-shop", 200, seed=0, lang="zh", questions=("now",))
        if "咖啡店" in e.src and "回家" in e.src
    ]
    assert found
    e = found[0]
    assert e.src[slice(*e.meta["key_spans"]["place"])] == "咖啡店"
    assert e.src[slice(*e.meta["key_spans"]["final"])] == "回家"
    assert e.tgt == "家" and "然后我从咖啡店出来，回家了。" in e.src


# -- addition ----------------------------------------------------------------------------------------
def test_addition_and_scratchpad():
    for e in arithmetic.addition(100, digits=(1, 8)):
        a, b = map(int, e.src.rstrip("=").split("+"))
        assert int(e.tgt) == a + b
    for e in arithmetic.addition_scratchpad(100, digits=(1, 8)):
        a, b = map(int, e.src.rstrip("=").split("+"))
        work, answer = e.tgt.split(" | ")
        assert int(answer) == a + b
        carry, digits = 0, []
        for step in work.split(", "):
            m = re.fullmatch(r"(\d)\+(\d)\+(\d)=(\d+) c(\d)", step)
            x, y, c_in, total, c_out = map(int, m.groups())
            assert c_in == carry and total == x + y + c_in and c_out == total // 10
            digits.append(total % 10)
            carry = c_out
        assert int(("1" if carry else "") + "".join(map(str, reversed(digits)))) == a + b
