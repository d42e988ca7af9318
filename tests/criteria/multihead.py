"""Made-up metrics for multihead's criteria."""


def _seed(base=0.98, heads=0.75, layers=0.67, prune=0.3):
    return {
        "baseline_accuracy": base,
        "layers": ["enc-self 0", "dec-self 0", "cross 0"],
        "pruning_curve": [base] * 13,
        "share_heads_small_drop": heads,
        "share_layers_one_head_enough": layers,
        "prunable_share": prune,
    }


def passing():
    return [_seed(), _seed(0.99, 0.5, 0.5, 0.2), _seed(0.95, 0.9, 1.0, 0.6)]


def failing():
    needed = passing()
    needed[1] = _seed(heads=0.4)  # a trained model where most heads cost a point each on one seed
    return {"most-heads-individually-dispensable": needed}
