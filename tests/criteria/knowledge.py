"""Made-up metrics for knowledge's criteria."""


def _seed(memory=0.97, no_memory=0.14, without_gold=0.12, top=0.96, prior=0.13):
    return {
        "prior": prior,
        "memory": {"accuracy": memory, "top_fact_is_gold": top, "chance_top_fact": 0.12},
        "no_memory": {"accuracy": no_memory},
        "memory_without_gold": {"accuracy": without_gold},
    }


def passing():
    return [_seed(), _seed(memory=0.93, top=0.9), _seed(memory=0.99, no_memory=0.2)]


def failing():
    return {
        # one seed's memory model answers only 70% of questions about unseen people
        "memory-answers-unseen": [_seed(), _seed(memory=0.7), _seed()],
        # the memory answers, but the model without memory is as good (e.g. facts leaked into training)
        "memory-beats-no-memory": [_seed(), _seed(memory=0.9, no_memory=0.6), _seed()],
    }
