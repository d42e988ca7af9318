"""Made-up metrics for adaptive-span's criteria (L = 128: short below 32, long from 64)."""


def _seed(spans=((1, 1, 2, 3), (70, 40, 20, 1)), saved=0.66, loss=1.50, lookup=0.97):
    return {
        "max_span": 128,
        "lookup_chance": 0.125,
        "adaptive": {
            "spans": [list(layer) for layer in spans],
            "flops_saved_per_head": saved,
            "loss": loss,
            "lookup_accuracy": lookup,
        },
        "full": {"loss": 1.46, "lookup_accuracy": 0.99},
    }


def passing():
    return [_seed(), _seed(spans=((1, 1, 1, 1), (66, 45, 0, 30)), saved=0.7), _seed(loss=1.52)]


def failing():
    return {
        # one seed keeps half of its heads at 32 or more
        "most-heads-short": [_seed(), _seed(spans=((1, 1, 40, 50), (70, 40, 20, 1))), _seed()],
        "compute-saved": [_seed(), _seed(), _seed(saved=0.45)],
        "loss-kept": [_seed(loss=1.58), _seed(), _seed()],  # 1.58 / 1.46 = 1.08
    }
