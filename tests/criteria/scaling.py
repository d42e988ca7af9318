"""Made-up metrics for scaling's criteria."""

import copy


def _axis(key, sizes, losses):
    return [{key: s, "loss": loss} for s, loss in zip(sizes, losses)]


def _seed(
    alpha_n=0.07, alpha_d=0.09, r2_n=0.97, r2_d=0.95, n_losses=(3.0, 2.7, 2.5, 2.3), d_losses=(3.2, 2.9, 2.6)
):
    return {
        "corpus": "news",
        "params": _axis("params", [3_000, 25_000, 57_000, 150_000], n_losses),
        "data": _axis("data", [4_000, 16_000, 64_000], d_losses),
        "fit_params": {"alpha": alpha_n, "a": 5.0, "r2": r2_n},
        "fit_data": {"alpha": alpha_d, "a": 6.0, "r2": r2_d},
    }


def passing():
    return [_seed(), _seed(alpha_n=0.05, r2_d=0.91), _seed(alpha_d=0.12)]


def failing():
    def with_(i, **kw):
        seeds = passing()
        seeds[i] = _seed(**kw)
        return copy.deepcopy(seeds)

    return {
        "params-power-law-fit": with_(1, r2_n=0.6),  # loss falls, but not along a line on log-log axes
        "params-exponent-above": with_(0, alpha_n=0.01),  # falls far more slowly than Kaplan's
        "params-exponent-below": with_(2, alpha_n=0.4),  # far steeper than Kaplan's
        "data-power-law-fit": with_(0, r2_d=0.85),
        "data-exponent-above": with_(1, alpha_d=-0.02),  # loss grows with data
        "data-exponent-below": with_(2, alpha_d=0.5),
    }
