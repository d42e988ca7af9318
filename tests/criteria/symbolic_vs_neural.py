"""Made-up metrics for symbolic-vs-neural's criteria."""

SETS = ("train-formats", "held-out-formats", "held-out-language", "typos", "extra-words")


def _acc(train, held=0.2, french=0.3, typos=0.9, extra=0.8):
    return dict(zip(SETS, (train, held, french, typos, extra)))


def _seed(rules=None, learner=None):
    rules = rules or _acc(1.0, held=0.05, french=0.05, typos=0.3, extra=1.0)
    learner = learner or [_acc(0.2, typos=0.1, extra=0.1), _acc(0.8), _acc(1.0)]
    return {"sizes": [30, 1000, 10000], "rules": rules,
            "learner": [{"n": n, "accuracy": a} for n, a in zip([30, 1000, 10000], learner)]}  # fmt: skip


def passing():
    return [_seed(), _seed(learner=[_acc(0.1), _acc(0.9), _acc(0.99)]), _seed()]


def failing():
    buggy = passing()
    buggy[1]["rules"]["train-formats"] = 0.95  # a rule misses a format it was written for
    quick = passing()
    quick[2]["learner"][0]["accuracy"]["train-formats"] = 0.8  # little data was enough
    short = passing()
    short[0]["learner"][-1]["accuracy"]["train-formats"] = 0.9  # never catches up with the rules
    brittle = passing()
    brittle[1]["learner"][-1]["accuracy"]["typos"] = 0.35  # typos hurt the learner as much as the rules
    return {
        "rules-exact-on-training-formats": buggy,
        "learner-needs-data": quick,
        "learner-matches-rules-with-data": short,
        "learner-wins-on-typos": brittle,
    }
