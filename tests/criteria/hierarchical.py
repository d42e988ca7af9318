"""Made-up metrics for hierarchical's criteria."""


def _model(acc, sentence=0.95, word=0.9):
    return {"accuracy": acc, "top_sentence_is_evidence": sentence, "top_word_is_evidence": word}


def _docs(han=0.95, flat=0.85, sentence=0.95, word=0.9):
    return {
        "chance_sentence": 0.08,
        "chance_word": 0.25,
        "words_per_document": 120.0,
        "han": _model(han, sentence, word),
        "flat": _model(flat, 0.4, 0.5),
    }


def _seed(en=None, zh=None, reviews=(0.85, 0.81)):
    return {
        "documents-en": _docs(**(en or {})),
        "documents-zh": _docs(**(zh or {})),
        "reviews-zh": {"han": {"accuracy": reviews[0]}, "flat": {"accuracy": reviews[1]}},
    }


def passing():
    return [_seed(), _seed(en={"han": 0.9, "flat": 0.8}), _seed(zh={"sentence": 0.85}, reviews=(0.84, 0.8))]


def failing():
    return {
        # a tie on one seed: HAN >= flat is not HAN beats flat
        "han-beats-flat-en": [_seed(), _seed(en={"han": 0.9, "flat": 0.9}), _seed()],
        "han-beats-flat-zh": [_seed(), _seed(), _seed(zh={"han": 0.8, "flat": 0.85})],
        # HAN accurate, but its sentence attention does not single out the marked sentence on one seed
        "han-sentence-attention-en": [_seed(en={"sentence": 0.5}), _seed(), _seed()],
        "han-sentence-attention-zh": [_seed(), _seed(zh={"sentence": 0.7}), _seed()],
    }
