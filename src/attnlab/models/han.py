"""Hierarchical Attention Network (Yang et al., 2016, "Hierarchical Attention Networks for Document
Classification") and its flat counterpart.

Word level (eq. 5-7): a bidirectional GRU reads each sentence, ``h_it = [→h_it; ←h_it]``, then

    u_it = tanh(W_w h_it + b_w),   α_it = exp(u_itᵀ u_w) / Σ_t exp(u_itᵀ u_w),   s_i = Σ_t α_it h_it

Sentence level (eq. 8-10): a second bidirectional GRU reads ``s_1 .. s_L``, ``h_i = [→h_i; ←h_i]``,

    u_i = tanh(W_s h_i + b_s),     α_i = exp(u_iᵀ u_s) / Σ_i exp(u_iᵀ u_s),       v = Σ_i α_i h_i

and ``p = softmax(W_c v + b_c)`` (eq. 11). Both attention layers are :class:`AttentionPooling` (the
same formula as the Transformer classifier's attention pooling). With ``hierarchical=False`` the model
is the flat baseline: the word GRU reads the whole document (real tokens only, sentences concatenated)
and one attention layer pools all its words; its "sentence" weights are the sums of its word weights
per sentence, so both models report the same two kinds of weights.

Padding: ``tokens (B, S, W)`` hold ``pad_id`` after the last word of a sentence and in sentences after
the last one of a document. GRUs run on packed sequences, so a padded document gives exactly the
outputs of the unpadded one; fully padded sentences (and documents) get all-zero weights, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .classifier import AttentionPooling
from .kinds import register_config


@register_config("han")
@dataclass
class HANConfig:
    """``hidden_size`` is per GRU direction (the paper: 50); attention vectors are ``2 * hidden_size``
    wide (the paper's ``u_w``, ``u_s`` have 100 dimensions)."""

    kind: str = "han"
    vocab_size: int = 32
    embed_dim: int = 32
    hidden_size: int = 32
    num_classes: int = 2
    hierarchical: bool = True  # False: one attention layer over all words of the document
    dropout: float = 0.0
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.kind != "han":
            raise ValueError(f"kind: expected 'han', got {self.kind!r}")
        for name in ("vocab_size", "embed_dim", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {getattr(self, name)!r}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes: expected >= 2, got {self.num_classes!r}")


class BiGRUEncoder(nn.Module):
    """A bidirectional GRU over padded sequences ``x (N, T, d_in)`` with ``lengths (N,)``; rows of
    length 0 give zeros. Output ``(N, T, 2 * hidden)``, zero at padded positions."""

    def __init__(self, d_in: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(d_in, hidden, batch_first=True, bidirectional=True)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        n, t, _ = x.shape
        out = x.new_zeros(n, t, 2 * self.gru.hidden_size)
        live = (lengths > 0).nonzero().squeeze(1)
        if live.numel():
            packed = pack_padded_sequence(
                x[live], lengths[live].cpu(), batch_first=True, enforce_sorted=False
            )
            h, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=t)
            out = out.index_copy(0, live, h)  # (N, T, 2H)
        return out


class HierarchicalAttentionNetwork(nn.Module):
    """``tokens (B, S, W) -> (logits (B, C), {"word": (B, S, W), "sentence": (B, S)})``.

    Word weights sum to 1 over the real words of each real sentence (HAN) or of the whole document
    (flat); sentence weights sum to 1 over a document's real sentences.
    """

    def __init__(self, config: HANConfig) -> None:
        super().__init__()
        self.config = config
        d = 2 * config.hidden_size
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.pad_id)
        self.drop = nn.Dropout(config.dropout)
        self.word_encoder = BiGRUEncoder(config.embed_dim, config.hidden_size)
        self.word_attention = AttentionPooling(d)
        if config.hierarchical:
            self.sentence_encoder = BiGRUEncoder(d, config.hidden_size)
            self.sentence_attention = AttentionPooling(d)
        self.head = nn.Linear(d, config.num_classes)

    def forward(self, tokens: Tensor, *, need_weights: bool = True) -> tuple[Tensor, dict | None]:
        if tokens.dim() != 3 or tokens.is_floating_point():
            raise ValueError(
                f"tokens: expected integer ids (B, S, W), got {tuple(tokens.shape)} {tokens.dtype}"
            )
        real = tokens != self.config.pad_id  # (B, S, W)
        if self.config.hierarchical:
            doc, weights = self._hierarchical(tokens, real)
        else:
            doc, weights = self._flat(tokens, real)
        logits = self.head(self.drop(doc))
        return logits, (weights if need_weights else None)

    def _hierarchical(self, tokens: Tensor, real: Tensor) -> tuple[Tensor, dict]:
        b, s, w = tokens.shape
        word_len = real.sum(-1)  # (B, S)
        x = self.drop(self.embed(tokens.reshape(b * s, w)))  # (B*S, W, E)
        h = self.word_encoder(x, word_len.reshape(-1))  # (B*S, W, 2H)
        sent, alpha = self.word_attention(h, word_len.reshape(-1))  # (B*S, 2H), (B*S, W)
        # A document's sentences are those up to its last non-empty one.
        idx = torch.arange(1, s + 1, device=tokens.device)
        doc_len = ((word_len > 0) * idx).amax(-1)  # (B,)
        hs = self.sentence_encoder(sent.view(b, s, -1), doc_len)  # (B, S, 2H)
        doc, beta = self.sentence_attention(hs, doc_len)  # (B, 2H), (B, S)
        return doc, {"word": alpha.view(b, s, w), "sentence": beta}

    def _flat(self, tokens: Tensor, real: Tensor) -> tuple[Tensor, dict]:
        b, s, w = tokens.shape
        flat_real = real.reshape(b, s * w)
        lengths = flat_real.sum(-1)  # (B,)
        t = max(int(lengths.max()), 1)
        # Compact the real tokens of each document to the front, keeping their reading order.
        order = torch.argsort((~flat_real).to(torch.int8), dim=1, stable=True)[:, :t]  # (B, T)
        ids = tokens.reshape(b, s * w).gather(1, order)
        keep = torch.arange(t, device=tokens.device)[None] < lengths[:, None]  # (B, T)
        ids = ids.masked_fill(~keep, self.config.pad_id)
        h = self.word_encoder(self.drop(self.embed(ids)), lengths)  # (B, T, 2H)
        doc, alpha = self.word_attention(h, lengths)  # (B, 2H), (B, T)
        grid = alpha.new_zeros(b, s * w).scatter(1, order, alpha * keep)  # back to (B, S*W)
        grid = grid.view(b, s, w)
        return doc, {"word": grid, "sentence": grid.sum(-1)}


def pad_documents(docs: list[list[list[int]]], pad_id: int = 0) -> Tensor:
    """Token ids of documents (lists of sentences of ids) -> ``(B, S_max, W_max)`` padded with ``pad_id``."""
    s = max((len(d) for d in docs), default=0)
    w = max((len(sent) for d in docs for sent in d), default=0)
    out = torch.full((len(docs), max(s, 1), max(w, 1)), pad_id, dtype=torch.long)
    for i, doc in enumerate(docs):
        for j, sent in enumerate(doc):
            if any(t == pad_id for t in sent):
                raise ValueError(f"docs: document {i} sentence {j} contains pad_id={pad_id}")
            out[i, j, : len(sent)] = torch.tensor(sent, dtype=torch.long)
    return out
