"""Build text from templates while recording where every slot landed (for evidence spans)."""

from __future__ import annotations

import string

_FORMATTER = string.Formatter()


def fill(template: str, **slots: str) -> tuple[str, dict[str, list[int]]]:
    """Fill ``{name}`` slots and return the text and the ``[start, end)`` span of each slot."""
    parts: list[str] = []
    spans: dict[str, list[int]] = {}
    pos = 0
    for literal, name, _, _ in _FORMATTER.parse(template):
        parts.append(literal)
        pos += len(literal)
        if name is not None:
            value = slots[name]
            spans[name] = [pos, pos + len(value)]
            parts.append(value)
            pos += len(value)
    return "".join(parts), spans


class TextBuilder:
    """Concatenate sentences, remembering each sentence's span and its slots' absolute spans."""

    def __init__(self, joiner: str) -> None:
        self.joiner = joiner
        self.text = ""
        self.sentences: list[list[int]] = []
        self.slots: list[dict[str, list[int]]] = []

    def add(self, template: str, **slots: str) -> int:
        """Append a sentence; return its index."""
        if self.text:
            self.text += self.joiner
        sentence, spans = fill(template, **slots)
        start = len(self.text)
        self.text += sentence
        self.sentences.append([start, len(self.text)])
        self.slots.append({k: [start + s, start + e] for k, (s, e) in spans.items()})
        return len(self.sentences) - 1

    def question_fields(self, n_story: int, evidence: list[int], answer_spans: list[list[int]]) -> dict:
        """The question and evidence fields of a story's metadata, once the question (the last
        sentence) is added after ``n_story`` story sentences: the question's text and span, the story's
        sentence spans, the evidence sentences' indices and spans, and the answer's spans."""
        return {
            "question": self.text[slice(*self.sentences[-1])],
            "question_span": self.sentences[-1],
            "sentences": self.sentences[:n_story],
            "evidence_sentences": evidence,
            "evidence_spans": [self.sentences[i] for i in evidence],
            "answer_spans": answer_spans,
        }
