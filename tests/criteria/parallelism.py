"""Made-up metrics for parallelism's criteria."""


def _seed(latency=(1.6, 1.9, 1.3), throughput=(1.2, 1.1, 0.9), speedup=(1.5, 1.2), threads=2):
    return {
        "lengths": [32, 128, 512],
        "threads": threads,
        "batch_size": [256, 64, 16],
        "latency_ratio_lstm_over_transformer": list(latency),
        "throughput_ratio": list(throughput),
        "thread_speedup": {"transformer": speedup[0], "lstm": speedup[1]},
        "thread_speedup_length": 128,
    }


def passing():
    # the experiment runs one seed per profile; three made-up seeds check the rule over seeds too
    return [_seed(), _seed(latency=(1.2, 1.5, 1.1)), _seed(throughput=(1.1, 1.05, 1.3), speedup=(1.3, 1.29))]


def failing():
    slow = passing()
    slow[2] = _seed(latency=(1.6, 1.9, 0.95))  # the LSTM is faster at n=512 on one seed
    return {"transformer-faster-one-sequence": slow}
