"""Made-up metrics for positions' criteria."""


def _seed(alibi=(7.4, 7.3, 7.3, 7.3), sinusoidal=(7.5, 12.0, 15.0, 18.0), rope=(7.6, 8.0, 9.5, 11.0)):
    ppl = {"alibi": list(alibi), "sinusoidal": list(sinusoidal), "rope": list(rope)}
    return {
        "eval_lengths": [64, 128, 256, 512],
        "perplexity": ppl,
        "ratio_to_L": {s: {f"{f}L": p / v[0] for f, p in zip((1, 2, 4, 8), v)} for s, v in ppl.items()},
    }


def passing():
    return [_seed(), _seed(alibi=(7.5, 7.6, 7.9, 8.2)), _seed(sinusoidal=(7.2, 10.0, 11.5, 13.0))]


def failing():
    return {
        # ALiBi degrades like the others on one seed (4L / L = 1.4).
        "alibi-flat-at-4L": [_seed(), _seed(alibi=(7.4, 8.5, 10.4, 12.0)), _seed()],
        # Sinusoidal extrapolates on one seed (4L / L = 1.2).
        "sinusoidal-degrades-at-4L": [_seed(), _seed(), _seed(sinusoidal=(7.5, 8.2, 9.0, 9.5))],
    }
