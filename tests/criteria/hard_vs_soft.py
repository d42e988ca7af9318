"""Made-up metrics for hard-vs-soft's criteria (both tasks share the same made-up numbers)."""

import copy


def _method(acc, nts, steps, zeros=0.0):
    return {
        "accuracy": acc,
        "noise_to_signal_init": nts,
        "steps_to_threshold": steps,
        "share_zero_weights": zeros,
    }


def _task(hard_acc=0.85, hard_nts=8.0, sparse_acc=0.91, sparse_zeros=0.9):
    return {
        "steps": 600,
        "eval_every": 10,
        "soft": _method(0.92, 2.4, 50),
        "reinforce": _method(hard_acc, hard_nts, None, 0.95),  # never reached: counts as 610
        "gumbel": _method(0.88, 4.0, 110, 0.95),
        "sparsemax": _method(sparse_acc, 2.4, 60, sparse_zeros),
    }


def _seed(**kw):
    return {"chance": 0.1, "marked": _task(**kw), "digits": _task(**kw)}


def passing():
    seeds = [_seed(), _seed(hard_acc=0.6), _seed(sparse_acc=0.88)]  # sparsemax 4 points behind once: mean 2
    seeds[1]["marked"]["reinforce"]["steps_to_threshold"] = 140
    return seeds


def failing():
    cases = {}
    for task in ("marked", "digits"):
        untrained = passing()
        untrained[2][task]["reinforce"]["accuracy"] = 0.4  # 0.3 / 0.82 of soft's gain
        quiet = passing()
        quiet[0][task]["reinforce"]["noise_to_signal_init"] = 2.4  # a tie is not "noisier"
        worse = copy.deepcopy(passing())
        for s in worse:
            s[task]["sparsemax"]["accuracy"] = 0.87  # 5 points behind on every seed
        dense = passing()
        dense[1][task]["sparsemax"]["share_zero_weights"] = 0.3
        cases |= {
            f"{task}-hard-trains": untrained,
            f"{task}-hard-noisier": quiet,
            f"{task}-sparsemax-matches": worse,
            f"{task}-sparsemax-sparse": dense,
        }
    return cases
