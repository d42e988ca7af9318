"""Made-up metrics for memorization's criteria."""

import copy

KS = (0, 1, 4, 16, 64)
MAX = 16.61


def _canary(lang, k, exposure, extracted):
    prefix = "Mary's PIN is " if lang == "en" else "小明的密码是"
    return {"lang": lang, "k": k, "prefix": prefix, "exposure": exposure, "extracted": extracted}


def _seed(top_final=16.6, control_final=1.2, top_extracted=True, mid=(2.0, 9.0)):
    canaries = []
    for lang in ("en", "zh"):
        canaries += [
            _canary(lang, 0, [1.0, 0.8, control_final], [False] * 3),
            _canary(lang, 1, [0.5, 1.5, 2.5], [False] * 3),
            _canary(lang, 4, [0.7, 2.0, 4.0], [False] * 3),
            _canary(lang, 16, [0.3, mid[0], mid[1]], [False] * 3),
            _canary(lang, 64, [0.2, 12.0, top_final], [False, False, top_extracted]),
        ]
    return {"ks": list(KS), "steps": [0, 500, 1000], "max_exposure": MAX, "canaries": canaries}


def passing():
    return [_seed(), _seed(control_final=2.5, mid=(4.0, 8.0)), _seed(top_final=15.9)]


def failing():
    weak = passing()
    for c in weak[1]["canaries"]:  # the most inserted secret is barely above the control in English
        if c["lang"] == "en" and c["k"] == 64:
            c["exposure"][-1] = 5.0
    silent = passing()
    for c in silent[2]["canaries"]:  # high exposure, yet greedy decoding does not write it (zh)
        if c["lang"] == "zh" and c["k"] == 64:
            c["extracted"][-1] = False
    weak_zh = copy.deepcopy(passing())
    for c in weak_zh[0]["canaries"]:
        if c["lang"] == "zh" and c["k"] == 64:
            c["exposure"][-1] = 3.0
    silent_en = passing()
    for c in silent_en[0]["canaries"]:
        if c["lang"] == "en" and c["k"] == 64:
            c["extracted"][-1] = False
    return {
        "en-exposure-grows-with-insertions": weak,
        "zh-exposure-grows-with-insertions": weak_zh,
        "en-greedy-reveals-the-most-inserted-secret": silent_en,
        "zh-greedy-reveals-the-most-inserted-secret": silent,
    }
