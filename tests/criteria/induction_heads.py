"""Made-up metrics for induction-heads' criteria."""


def _seed(best1=0.05, best2=0.6, drop1=0.6, drop2=3.9, prev=0.99):
    return {
        "1-layer": {"induction": [[0.03, best1, 0.04, 0.04]], "in_context_drop": drop1},
        "2-layer": {
            "induction": [[0.02, 0.02, 0.03, 0.02], [best2 - 0.03, best2, 0.1, best2 - 0.02]],
            "previous_token": [[prev, 0.06, 0.09, 0.03], [0.1, 0.1, 0.1, 0.1]],
            "in_context_drop": drop2,
        },
    }


def passing():
    return [_seed(), _seed(best2=0.45, drop2=2.0), _seed(best1=0.12, prev=0.7)]


def failing():
    return {
        "two-layer-induction-head": [_seed(), _seed(best2=0.25), _seed()],
        "one-layer-no-induction-head": [_seed(best1=0.35), _seed(), _seed()],
        "in-context-drop-2-vs-1-layer": [_seed(), _seed(), _seed(drop1=1.2, drop2=2.1)],  # gap 0.9 < 1
    }
