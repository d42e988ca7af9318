"""The knowledge-base QA and visual-QA tasks: answers recomputed independently of the generators, and
splits that share no person (knowledge) and no digit image (visual QA)."""

import re

import pytest
import torch

from attnlab.data import TASKS, generate
from attnlab.data.tasks import knowledge as kb_task

NEEDS_DIGITS = pytest.mark.skipif(not TASKS["visual-qa"].available()[0], reason="scikit-learn not installed")

# Our own reading of the questions, written independently of the generator's templates.
KB_PATTERNS = {
    "en": [
        (r"^Where does (.+) live\?$", "city"),
        (r"^What is (.+)'s job\?$", "job"),
        (r"^What pet does (.+) have\?$", "pet"),
    ],
    "zh": [(r"^(.+)住在哪里？$", "city"), (r"^(.+)的职业是什么？$", "job"), (r"^(.+)养了什么宠物？$", "pet")],
}


def _parse_kb_question(text, lang):
    for pattern, relation in KB_PATTERNS[lang]:
        m = re.match(pattern, text)
        if m:
            return m.group(1), relation
    raise AssertionError(f"unparsed question {text!r}")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_knowledge_answer_is_the_memory_fact_about_the_asked_person(lang, split):
    kb = kb_task.knowledge_base(lang, seed=3)
    for e in generate("knowledge", 60, seed=3, split=split, lang=lang, people=(1, 4)):
        entity, relation = _parse_kb_question(e.src, lang)
        matches = [f for f in e.meta["memory"] if f[0] == entity and f[1] == relation]
        assert len(matches) == 1 and matches[0][2] == e.tgt == kb[entity][relation]
        assert e.meta["memory"][e.meta["gold"]] == matches[0]
        assert len(e.meta["memory"]) % 3 == 0 and 3 <= len(e.meta["memory"]) <= 12
        people = {f[0] for f in e.meta["memory"]}
        assert all(kb[f[0]][f[1]] == f[2] for f in e.meta["memory"])  # one consistent KB
        assert len(people) * 3 == len(e.meta["memory"])  # every listed person has all three facts
        for key, (ent, rel, _) in zip(e.meta["keys"], e.meta["memory"]):
            assert ent in key and key == kb_task.fact_key(ent, rel, lang)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_knowledge_split_shares_no_person(lang):
    split_people = {}
    for split in ("train", "valid", "test"):
        people = set(kb_task.split_entities(lang, split))
        mentioned = {
            f[0] for e in generate("knowledge", 300, split=split, lang=lang) for f in e.meta["memory"]
        }
        assert mentioned <= people  # questions and distractors come from the split's own people
        split_people[split] = people
    assert not split_people["train"] & split_people["test"]
    assert (
        not split_people["train"] & split_people["valid"] and not split_people["valid"] & split_people["test"]
    )
    assert set().union(*split_people.values()) == set(kb_task.entities(lang))


def test_knowledge_bad_arguments():
    with pytest.raises(ValueError, match="lang"):
        generate("knowledge", 2, lang="fr")
    with pytest.raises(ValueError, match="people"):
        generate("knowledge", 2, people=(0, 2))
    with pytest.raises(ValueError, match="relations"):
        generate("knowledge", 2, relations=("age",))


def _digit_at(image, slot, reference):
    """The label of the reference image equal to the 8x8 tile at ``slot`` (an independent lookup)."""
    tile = image[..., slot * 8 : (slot + 1) * 8]
    hits = [label for img, label in reference if torch.equal(img, tile)]
    assert hits, "tile is not a digit image of this split"
    return hits[0]


@NEEDS_DIGITS
@pytest.mark.parametrize("split", ["train", "test"])
def test_visual_qa_answers_recomputed_from_the_pixels(split):
    from attnlab.data.datasets import digits

    ref = digits.load(split, seed=0)
    reference = list(zip(ref.images, ref.labels.tolist()))
    for e in generate("visual-qa", 80, seed=2, split=split):
        k = e.src.shape[-1] // 8
        assert e.src.shape == (1, 8, 8 * k) and 2 <= k <= 4
        labels = [_digit_at(e.src, s, reference) for s in range(k)]
        assert labels == e.meta["labels"] and len(set(labels)) == k
        q = e.meta["question"]
        named = re.search(r"\d", q)
        if "left" in q or "左边" in q:
            want = str(labels[labels.index(int(named.group())) - 1])
            assert labels.index(int(named.group())) > 0
        elif "right" in q or "右边" in q:
            want = str(labels[labels.index(int(named.group())) + 1])
        elif "How many" in q or "几个" in q:
            want = str(k)
        else:  # "Is there a 7?" / "是否有7？": yes/no in the question's language
            present = int(named.group()) in labels
            zh = bool(re.search(r"[\u4e00-\u9fff]", q))
            want = ("是" if present else "否") if zh else ("yes" if present else "no")
        assert e.tgt == want, (q, labels, e.tgt)
        if e.meta["ref_slot"] is not None:
            assert labels[e.meta["ref_slot"]] == int(named.group())


@NEEDS_DIGITS
def test_visual_qa_train_and_test_share_no_digit_image():
    def tiles(examples):
        return {
            tuple(e.src[..., s * 8 : (s + 1) * 8].flatten().tolist())
            for e in examples
            for s in range(e.src.shape[-1] // 8)
        }

    train, test = tiles(generate("visual-qa", 400)), tiles(generate("visual-qa", 200, split="test"))
    assert train and test and not train & test
    langs = {e.meta["lang"] for e in generate("visual-qa", 40)}
    assert langs == {"en", "zh"}
    with pytest.raises(ValueError, match="digits"):
        generate("visual-qa", 2, digits=(1, 3))
    with pytest.raises(ValueError, match="qtypes"):
        generate("visual-qa", 2, qtypes=("colour",))
