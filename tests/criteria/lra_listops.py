"""Made-up metrics for lra-listops' criteria."""


def _seed(full=0.36, majority=0.17, **efficient):
    acc = {"full": full, "local": 0.16, "sparse": 0.17, "linear": 0.16, "performer": 0.18, **efficient}
    return {"variants": {k: {"accuracy": v} for k, v in acc.items()}, "majority_accuracy": majority}


def passing():
    return [_seed(), _seed(full=0.30), _seed(full=0.33, performer=0.25)]


def failing():
    cases = {}
    for name in ("local", "sparse", "linear", "performer"):
        # A 1-point gap on one seed.
        cases[f"full-beats-{name}"] = [_seed(), _seed(), _seed(full=0.30, **{name: 0.29})]
    return cases
