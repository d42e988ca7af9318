"""Made-up metrics for interpretability's criteria."""

import copy


def _story(acc=1.0, first=1.0, now=0.9, chance=0.2):
    def q(hit):
        return {
            "pooling_hit_at_k": {"3": hit},
            "last_layer_hit_at_k": {"3": 0.5},
            "chance_at_k": {"3": chance},
        }

    return {"qa_accuracy": acc, "by_question": {"first": q(first), "now": q(now)}}


def _faith(acc=1.0, uniform=0.15, small=0.1, tau_att_loo=0.4, tau_grad_loo=0.3):
    return {
        "accuracy": acc,
        "uniform_pooling_accuracy": uniform,
        "uniform_all_accuracy": uniform,
        "permutation_share_small": small,
        "permutation_median_tvd": 0.9,
        "permutation_flip_rate": 0.8,
        "n_permutations": 100,
        "kendall_tau": {
            "attention_loo": {"mean": tau_att_loo},
            "gradient_loo": {"mean": tau_grad_loo},
            "attention_gradient": {"mean": 0.3},
        },
    }


def _course():
    def q(answer, top3):
        return {"answer": answer, "expected": answer, "top3_tokens": top3, "target_in_top3": True}

    return {"first": q("咖啡店", ["咖", "啡", "店"]), "now": q("家", ["回", "家", "了"])}


def _seed(aer=0.05, aer_chance=0.74):
    return {
        "dates": {"sequence_accuracy": 1.0, "aer": aer, "aer_chance": aer_chance},
        "coffee_shop": {"zh": _story(), "en": _story()},
        "course_sentence": _course(),
        "faithfulness": {"zh": _faith(), "en": _faith()},
    }


def passing():
    return [_seed(), _seed(aer=0.1), _seed(aer=0.2)]


def _with(path, value, seed=1):
    """passing() with one value replaced on one seed: path is a list of keys."""
    cases = copy.deepcopy(passing())
    node = cases[seed]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return cases


def failing():
    cases = {
        "dates-alignment-aer": _with(["dates", "aer"], 0.35),
        # AER 0.2 passes the 0.3 bound but is not under half of a chance AER of 0.35.
        "dates-alignment-beats-chance": _with(["dates", "aer_chance"], 0.35, seed=2),
    }
    for lang in ("zh", "en"):
        cases[f"coffee-{lang}-first-evidence-in-top3"] = _with(["coffee_shop", lang], _story(first=0.4))
        # hit@3 0.6 clears 0.5 but not twice a chance rate of 0.35.
        near_chance = _story(now=0.6, chance=0.35)
        cases[f"coffee-{lang}-now-evidence-in-top3"] = _with(["coffee_shop", lang], near_chance)
    return cases
