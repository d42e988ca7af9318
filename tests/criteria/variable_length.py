"""Made-up metrics for variable-length's criteria."""


def _seed(rnn=4e-7, tf=3e-7, controls=(0.4, 2.5), speed=(3700.0, 8600.0), padding=(0.69, 0.04)):
    return {
        "max_abs_diff": {
            "rnn_bahdanau": rnn,
            "transformer": tf,
            "rnn_bahdanau_no_lengths": controls[0],
            "transformer_no_lengths": controls[1],
        },
        "probe_lengths": [2, 3, 256, 256],
        "real_tokens_per_s": {"naive": speed[0], "bucketed": speed[1]},
        "padding_share": {"naive": padding[0], "bucketed": padding[1]},
        "timing_disturbed": None,
    }


def passing():
    return [_seed(), _seed(rnn=9e-6, speed=(4000.0, 4100.0)), _seed(tf=1e-5, controls=(2e-5, 1.0))]


def failing():
    def replace(**kw):
        seeds = passing()
        seeds[1] = _seed(**kw)
        return seeds

    return {
        "rnn-exact-with-lengths": replace(rnn=3e-3),  # lengths ignored somewhere on one seed
        "transformer-exact-with-mask": replace(tf=2e-5),
    }
