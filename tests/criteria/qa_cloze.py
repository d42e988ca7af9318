"""Made-up metrics for qa-cloze's criteria."""


def _seed(reader=0.5, frequency=0.27, exclusive=0.4):
    return {
        "n_test": 1078,
        "candidates": 13.7,
        "chance": 0.1,
        "reader": reader,
        "frequency": frequency,
        "exclusive_frequency": exclusive,
    }


def passing():
    return [_seed(), _seed(reader=0.45), _seed(frequency=0.3, exclusive=0.42)]


def failing():
    return {
        # the reader only matches the frequency baseline on one seed (gap below the 3-point margin)
        "reader-beats-frequency": [_seed(), _seed(reader=0.29, frequency=0.27, exclusive=0.25), _seed()],
    }
