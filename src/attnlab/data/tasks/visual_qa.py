"""Visual question answering on strips of handwritten digits (scikit-learn's 8x8 digits), zh and en.

An image is 2-4 different digits side by side, ``(1, 8, 8 * K)``; a question asks about it:

* ``left_of``  - "Which digit is left of the 3?" / "3左边的数字是几？"   -> the digit's label;
* ``right_of`` - "Which digit is right of the 3?" / "3右边的数字是几？"  -> the digit's label;
* ``exists``   - "Is there a 7?" / "是否有7？"                          -> yes/no (是/否), half each;
* ``count``    - "How many digits are there?" / "有几个数字？"           -> "2" / "3" / "4".

``src`` is the image, ``tgt`` the answer; ``meta`` has the ``question``, ``qtype``, ``lang``, the
``labels`` left to right, ``image_ids`` (indices into the digits split), ``digit`` (the digit the
question names, or None), ``ref_slot`` (where that digit is, or None) and ``answer_slot`` (the slot
holding the answer, for left/right questions). Images come from the digits split of the same name
(a fixed split, ``image_seed``), so test questions are about digit images never seen in training.
"""

from __future__ import annotations

import functools

import torch

from ..base import Example, check_choice, check_int, check_range, task_rng

QTYPES = ("left_of", "right_of", "exists", "count")
LANGS = ("en", "zh", "both")
QUESTIONS = {
    "en": {
        "left_of": "Which digit is left of the {d}?",
        "right_of": "Which digit is right of the {d}?",
        "exists": "Is there a {d}?",
        "count": "How many digits are there?",
    },
    "zh": {
        "left_of": "{d}左边的数字是几？",
        "right_of": "{d}右边的数字是几？",
        "exists": "是否有{d}？",
        "count": "有几个数字？",
    },
}
YES_NO = {"en": ("yes", "no"), "zh": ("是", "否")}
TILE = 8


@functools.cache
def _digits(split: str, image_seed: int) -> tuple[torch.Tensor, list[list[int]]]:
    """The digit images of a split and, per label, the indices of its images."""
    from ..datasets import digits

    data = digits.load(split, seed=image_seed)
    by_label = [[] for _ in range(10)]
    for i, label in enumerate(data.labels.tolist()):
        by_label[label].append(i)
    return data.images, by_label


def compose(images: torch.Tensor, ids: list[int]) -> torch.Tensor:
    """The strip of digit images ``images[ids]`` side by side: ``(1, 8, 8 * len(ids))``."""
    return torch.cat([images[i] for i in ids], dim=-1)


def visual_qa(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    lang: str = "both",
    digits=(2, 4),
    qtypes: tuple[str, ...] = QTYPES,
    image_seed: int = 0,
) -> list[Example]:
    """Questions about strips of 2-4 different digits.

    Args:
        lang: ``"en"``, ``"zh"`` or ``"both"`` (each question's language drawn at random).
        digits: how many digits a strip has (int or inclusive range within [2, 10]).
        qtypes: question kinds to draw from (see the module docstring).
        image_seed: the seed of the digits train/valid/test split the images come from.
    """
    check_int("n", n, 0)
    check_choice("lang", lang, LANGS)
    lo, hi = check_range("digits", digits, 2)
    if hi > 10:
        raise ValueError(f"digits must be at most 10 (different digits per strip), got {digits!r}")
    if isinstance(qtypes, str):
        qtypes = (qtypes,)
    if not qtypes:
        raise ValueError(f"qtypes must name at least one of {QTYPES}")
    for q in qtypes:
        check_choice("qtypes", q, QTYPES)
    images, by_label = _digits(split, image_seed)
    rng = task_rng(f"visual-qa/{seed}", split)
    out = []
    for _ in range(n):
        k = rng.randint(lo, hi)
        labels = rng.sample(range(10), k)
        ids = [rng.choice(by_label[d]) for d in labels]
        qtype = rng.choice(qtypes)
        language = rng.choice(("en", "zh")) if lang == "both" else lang
        digit = ref = slot = None
        if qtype == "left_of":
            ref = rng.randint(1, k - 1)
            slot = ref - 1
        elif qtype == "right_of":
            ref = rng.randint(0, k - 2)
            slot = ref + 1
        if qtype in ("left_of", "right_of"):
            digit, answer = labels[ref], str(labels[slot])
        elif qtype == "exists":
            if rng.random() < 0.5:
                ref = rng.randrange(k)
                digit, answer = labels[ref], YES_NO[language][0]
            else:
                digit = rng.choice([d for d in range(10) if d not in labels])
                answer = YES_NO[language][1]
        else:
            answer = str(k)
        question = QUESTIONS[language][qtype].format(d=digit)
        meta = {
            "task": "visual-qa",
            "lang": language,
            "split": split,
            "qtype": qtype,
            "question": question,
            "labels": labels,
            "image_ids": ids,
            "digit": digit,
            "ref_slot": ref,
            "answer_slot": slot,
        }
        out.append(Example(compose(images, ids), answer, meta))
    return out
