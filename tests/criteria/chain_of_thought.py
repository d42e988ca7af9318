"""Made-up metrics for chain-of-thought's criteria (trained on 1-4 digits, tested on 1-6)."""


def _seed(direct=(0.9, 0.8, 0.6, 0.25, 0.0, 0.0), scratchpad=(1.0, 1.0, 1.0, 0.95, 0.3, 0.1)):
    model = lambda acc: {"accuracy": list(acc), "beyond_training": sum(acc[4:]) / 2}  # noqa: E731
    return {"digits": [1, 2, 3, 4, 5, 6], "train_digits": 4,
            "models": {"direct": model(direct), "scratchpad": model(scratchpad)}}  # fmt: skip


def passing():
    return [
        _seed(),
        _seed(direct=(0.95, 0.7, 0.5, 0.3, 0.05, 0.0)),
        _seed(scratchpad=(1.0, 1.0, 0.98, 0.9, 0.2, 0.1)),
    ]


def failing():
    close = passing()
    close[1] = _seed(direct=(1.0, 1.0, 1.0, 0.92, 0.0, 0.0))  # the direct model is within 0.05 at 4 digits
    zero = passing()
    zero[0] = _seed(scratchpad=(1.0, 1.0, 1.0, 0.96, 0.0, 0.0))  # both score 0 beyond training (a tie)
    return {"scratchpad-wins-in-distribution": close, "scratchpad-wins-beyond-training": zero}
