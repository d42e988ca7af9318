"""Made-up metrics for scaled-dot-product's criteria."""

import copy


def _seed(collapse_spread=0.05, grad=(1e-3, 1e-5), err=5e-7):
    return {
        "d_k": [4, 64, 1024],
        "entropy_scaled": [3.0, 3.0 - collapse_spread, 3.0],
        "entropy_unscaled": [2.9, 1.5, 0.4],
        "grad_scaled": [1e-3, 1e-3, grad[0]],
        "grad_unscaled": [1e-3, 1e-4, grad[1]],
        "uniform_entropy": 3.4,
        "backend_max_error": {"sdpa": err, "chunked": err},
    }


def passing():
    return [_seed(), _seed(0.1), _seed(0.2)]


def failing():
    flat = passing()
    flat[1] = _seed(collapse_spread=1.0)  # one seed whose scaled entropy moves as much as the unscaled
    starved = passing()
    starved[2] = _seed(grad=(1e-6, 1e-5))  # the scale gives less gradient on one seed
    wrong_sdpa = copy.deepcopy(passing())
    wrong_sdpa[0]["backend_max_error"]["sdpa"] = 1e-3
    wrong_chunked = copy.deepcopy(passing())
    wrong_chunked[0]["backend_max_error"]["chunked"] = 1e-3
    return {
        "entropy-stable-when-scaled": flat,
        "more-gradient-when-scaled": starved,
        "sdpa-matches-oracle": wrong_sdpa,
        "chunked-matches-oracle": wrong_chunked,
    }
