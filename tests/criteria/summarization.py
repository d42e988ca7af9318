"""Made-up metrics for summarization's criteria."""


def _seed(none=0.12, bahdanau=0.2, lead=0.18, points=0.7):
    return {
        "models": ["none", "bahdanau"],
        "n_test": 746,
        "lead_rouge_l": lead,
        "results": {
            "none": {"rouge_l": none},
            "bahdanau": {"rouge_l": bahdanau, "top_attention_on_copied": points, "chance_on_copied": 0.04,
                         "copied_words": 900},
        },
    }  # fmt: skip


def passing():
    return [_seed(), _seed(none=0.15, bahdanau=0.21), _seed(points=0.55)]


def failing():
    return {
        # better than no attention on two seeds, a tie within the margin on the third
        "attention-beats-none": [_seed(), _seed(none=0.195), _seed()],
    }
