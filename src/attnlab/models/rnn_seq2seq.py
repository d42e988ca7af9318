"""RNN encoder-decoder (GRU or LSTM) without or with attention.

- ``attention="none"``: the encoder's final state is a fixed context vector ``c`` that initialises the
  decoder and is fed at every step (Cho et al., 2014, eq. 3-4; Sutskever et al., 2014).
- ``"bahdanau"`` (Bahdanau et al., 2015, eq. 4-6): ``e_ij = v^T tanh(W s_{i-1} + U h_j)``,
  ``c_i = Σ_j α_ij h_j``, ``s_i = RNN([y_{i-1}; c_i], s_{i-1})``, output from ``[s_i; c_i]``.
- ``"luong"`` global (Luong et al., 2015, sec. 3.1): ``s_t = RNN([y_{t-1}; h̃_{t-1}], s_{t-1})`` (input
  feeding), ``a_t = softmax(score(s_t, h̄_s))``, ``h̃_t = tanh(W_c [c_t; s_t])``, ``p = softmax(W_s h̃_t)``.
- ``"local-p"`` (Luong et al., 2015, sec. 3.2, eq. 9-10): ``p_t = S · sigmoid(v_p^T tanh(W_p s_t))``;
  attend within ``[p_t - D, p_t + D]`` with weights ``align(s_t, h̄_s) · exp(-(s - p_t)^2 / (2σ^2))``,
  ``σ = D / 2`` (we use ``S - 1`` so that ``p_t`` is a valid index).

All decoders return the attention weights of every step, stacked to ``(B, Lt, Ls)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..layers.alignment import SCORES, AdditiveScore, align, make_score
from .beam import beam_search, default_reorder
from .kinds import register_config


@register_config("rnn-seq2seq")
@dataclass
class RNNSeq2SeqConfig:
    """RNN encoder-decoder. ``attention``: ``"none"`` (Cho et al., 2014: a fixed context vector),
    ``"bahdanau"`` (Bahdanau et al., 2015), ``"luong"`` (global) or ``"local-p"`` (Luong et al., 2015);
    ``score`` is the alignment function of Luong attention (``attnlab.layers.SCORES``); Bahdanau
    attention always uses its additive score."""

    kind: str = "rnn-seq2seq"
    src_vocab_size: int = 32
    tgt_vocab_size: int = 32
    embed_dim: int = 32
    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "gru"  # "gru" | "lstm"
    bidirectional: bool = True
    attention: str = "bahdanau"
    score: str = "general"
    local_window: int = 2  # D of local-p attention (window [p_t - D, p_t + D], sigma = D / 2)
    max_src_len: int = 128  # location score: one weight row per source position
    dropout: float = 0.0
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3

    def __post_init__(self) -> None:
        if self.kind != "rnn-seq2seq":
            raise ValueError(f"kind: expected 'rnn-seq2seq', got {self.kind!r}")
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"cell: expected 'gru' or 'lstm', got {self.cell!r}")
        if self.attention not in ("none", "bahdanau", "luong", "local-p"):
            raise ValueError(
                f"attention: expected 'none', 'bahdanau', 'luong' or 'local-p', got {self.attention!r}"
            )
        if self.score not in SCORES:
            raise ValueError(f"score: unknown alignment function {self.score!r}; expected one of {SCORES}")


class RNNSeq2Seq(nn.Module):
    """``(src (B, Ls), tgt_in (B, Lt), src_lengths) -> (logits (B, Lt, V), weights (B, Lt, Ls) | None)``."""

    def __init__(self, config: RNNSeq2SeqConfig) -> None:
        super().__init__()
        if config.attention == "local-p" and config.local_window < 1:
            raise ValueError(f"local_window: expected >= 1, got {config.local_window}")
        self.config = c = config
        # Intervention hook (attnlab.interpret.faithfulness): fn(weights (B, 1, Ls), visible) -> weights.
        self.weights_override: Callable[[Tensor, Tensor], Tensor] | None = None
        h, e = c.hidden_size, c.embed_dim
        self.lstm = c.cell == "lstm"
        rnn = nn.LSTM if self.lstm else nn.GRU
        drop = c.dropout if c.num_layers > 1 else 0.0
        enc_dim = h * (2 if c.bidirectional else 1)
        self.src_embed = nn.Embedding(c.src_vocab_size, e, padding_idx=c.pad_id)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, e, padding_idx=c.pad_id)
        self.encoder = rnn(e, h, c.num_layers, batch_first=True, bidirectional=c.bidirectional, dropout=drop)
        self.bridge = nn.Linear(enc_dim, h)  # encoder summary -> initial decoder state
        self.bridge_cell = nn.Linear(enc_dim, h) if self.lstm else None
        self.drop = nn.Dropout(c.dropout)
        if c.attention in ("none", "bahdanau"):
            self.decoder = rnn(e + enc_dim, h, c.num_layers, batch_first=True, dropout=drop)
            self.out = nn.Linear(h + enc_dim, c.tgt_vocab_size)
            self.score = AdditiveScore(h, enc_dim) if c.attention == "bahdanau" else None
        else:
            self.memory = nn.Linear(enc_dim, h, bias=False)  # h̄_s in the decoder's width (dot scores)
            self.decoder = rnn(e + h, h, c.num_layers, batch_first=True, dropout=drop)
            self.score = make_score(c.score, h, h, max_len=c.max_src_len)
            self.combine = nn.Linear(2 * h, h, bias=False)  # W_c
            self.out = nn.Linear(h, c.tgt_vocab_size)  # W_s
            if c.attention == "local-p":
                self.position = nn.Sequential(nn.Linear(h, h), nn.Tanh(), nn.Linear(h, 1, bias=False))

    # -- encoder ---------------------------------------------------------------------------------
    def encode(self, src: Tensor, src_lengths: Tensor | None = None) -> dict:
        """Run the encoder; returns the decoder's initial state (encoder outputs included)."""
        if src.dim() != 2:
            raise ValueError(f"src: expected token ids (B, Ls), got {tuple(src.shape)}")
        b, ls = src.shape
        emb = self.drop(self.src_embed(src))  # (B, Ls, E)
        if src_lengths is not None:
            packed = pack_padded_sequence(emb, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, final = self.encoder(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=ls)  # (B, Ls, enc_dim)
        else:
            out, final = self.encoder(emb)
        dirs = 2 if self.config.bidirectional else 1

        def summary(state: Tensor) -> Tensor:
            last = state.view(self.config.num_layers, dirs, b, -1)[-1]  # (dirs, B, H) of the top layer
            return torch.cat(list(last), dim=-1)  # (B, enc_dim)

        h_final = summary(final[0] if self.lstm else final)
        layers = self.config.num_layers
        hidden = torch.tanh(self.bridge(h_final))[None].repeat(layers, 1, 1)  # (layers, B, H)
        if self.lstm:
            cell = torch.tanh(self.bridge_cell(summary(final[1])))[None].repeat(layers, 1, 1)
            hidden = (hidden, cell)
        state = {"hidden": hidden, "outputs": out, "lengths": src_lengths, "context": h_final}
        if self.config.attention in ("luong", "local-p"):
            state["memory"] = self.memory(out)  # (B, Ls, H)
            state["feed"] = out.new_zeros(b, self.config.hidden_size)  # h̃_0
        return state

    # -- one decoder step ------------------------------------------------------------------------
    def step(self, y_prev: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """Decode one token: ``y_prev (B,)`` -> ``(logits (B, V), state, weights (B, Ls) | None)``."""
        kind = self.config.attention
        emb = self.drop(self.tgt_embed(y_prev))  # (B, E)
        hidden, weights = state["hidden"], None
        state = dict(state)
        if kind == "none":
            ctx = state["context"]
            out, hidden = self.decoder(torch.cat([emb, ctx], -1)[:, None], hidden)
            logits = self.out(self.drop(torch.cat([out[:, 0], ctx], -1)))
        elif kind == "bahdanau":
            s_prev = (hidden[0] if self.lstm else hidden)[-1]  # (B, H) top layer's s_{i-1}
            scores = self.score(s_prev[:, None], state["outputs"])  # (B, 1, Ls)
            ctx, weights = align(scores, state["outputs"], state["lengths"], override=self.weights_override)
            ctx = ctx[:, 0]  # (B, enc_dim)
            out, hidden = self.decoder(torch.cat([emb, ctx], -1)[:, None], hidden)
            logits = self.out(self.drop(torch.cat([out[:, 0], ctx], -1)))
        else:
            out, hidden = self.decoder(torch.cat([emb, state["feed"]], -1)[:, None], hidden)
            s = out[:, 0]  # (B, H)
            mem = state["memory"]
            scores = self.score(s[:, None], mem)  # (B, 1, Ls)
            if kind == "local-p":
                ctx, weights = self._local(s, scores, mem, state["lengths"])
            else:
                ctx, weights = align(scores, mem, state["lengths"], override=self.weights_override)
            h_tilde = torch.tanh(self.combine(torch.cat([ctx[:, 0], s], -1)))  # (B, H)
            state["feed"] = h_tilde
            logits = self.out(self.drop(h_tilde))
        state["hidden"] = hidden
        return logits, state, (None if weights is None else weights[:, 0])

    def _local(self, s: Tensor, scores: Tensor, mem: Tensor, lengths: Tensor | None):
        b, _, ls = scores.shape
        src_len = torch.full((b,), ls, device=s.device) if lengths is None else lengths.to(s.device)
        p = (src_len.float() - 1)[:, None] * torch.sigmoid(self.position(s))  # (B, 1) predicted p_t
        pos = torch.arange(ls, device=s.device, dtype=s.dtype)[None]  # (1, Ls)
        d = self.config.local_window
        window = ((pos - p).abs() <= d)[:, None]  # (B, 1, Ls)
        _, weights = align(scores, mem, lengths, window)
        weights = weights * torch.exp(-((pos - p) ** 2) / (2 * (d / 2) ** 2))[:, None]  # Gaussian around p_t
        if self.weights_override is not None:
            weights = self.weights_override(weights, window & (pos < src_len[:, None])[:, None])
        return weights @ mem, weights  # (B, 1, H), (B, 1, Ls)

    # -- full sequences --------------------------------------------------------------------------
    def forward(
        self,
        src: Tensor,
        tgt_in: Tensor,
        src_lengths: Tensor | None = None,
        *,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing with probability ``teacher_forcing`` per step and example (else the model's
        own previous argmax is fed back, Bengio et al., 2015's scheduled sampling)."""
        state = self.encode(src, src_lengths)
        logits, weights = [], []
        y = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            if t > 0:
                y = tgt_in[:, t]
                if teacher_forcing < 1.0:
                    own = logits[-1].argmax(-1)
                    coin = torch.rand(y.shape, generator=generator).to(y.device) < teacher_forcing
                    y = torch.where(coin, y, own)
            step_logits, state, w = self.step(y, state)
            logits.append(step_logits)
            if w is not None:
                weights.append(w)
        out = torch.stack(logits, dim=1)  # (B, Lt, V)
        return out, (torch.stack(weights, dim=1) if need_weights and weights else None)

    @torch.no_grad()
    def greedy_decode(
        self, src: Tensor, src_lengths: Tensor | None = None, max_len: int = 32
    ) -> tuple[Tensor, Tensor | None]:
        """Greedy decoding; returns ``(tokens (B, T), weights (B, T, Ls) | None)`` (pad after EOS)."""
        c = self.config
        state = self.encode(src, src_lengths)
        y = torch.full((src.shape[0],), c.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros_like(y, dtype=torch.bool)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, state, w = self.step(y, state)
            y = logits.argmax(-1).masked_fill(done, c.pad_id)
            tokens.append(y)
            if w is not None:
                weights.append(w)
            done |= y == c.eos_id
            if bool(done.all()):
                break
        return torch.stack(tokens, 1), (torch.stack(weights, 1) if weights else None)

    @torch.no_grad()
    def beam_search(
        self, src: Tensor, src_lengths: Tensor | None = None, beam_size: int = 4, max_len: int = 32,
        length_penalty: float = 1.0,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """Beam search (:func:`attnlab.models.beam.beam_search`); returns ``(tokens (B, T), scores (B,))``."""
        c = self.config
        state = self.encode(src, src_lengths)
        expand = torch.arange(src.shape[0], device=src.device).repeat_interleave(beam_size)
        state = self._reorder(state, expand)  # K copies of each example, batch-major

        def step(last: Tensor, st: dict):
            logits, st, _ = self.step(last, st)
            return logits.log_softmax(-1), st

        return beam_search(
            step, state, batch_size=src.shape[0], beam_size=beam_size, bos_id=c.bos_id, eos_id=c.eos_id,
            pad_id=c.pad_id, max_len=max_len, length_penalty=length_penalty, reorder=self._reorder,
        )  # fmt: skip

    @staticmethod
    def _reorder(state: dict, index: Tensor) -> dict:
        """Keep batch rows ``index``; the RNN hidden state is ``(layers, B, H)``, the rest batch-first."""
        hidden = state["hidden"]
        rest = default_reorder({k: v for k, v in state.items() if k != "hidden"}, index)
        pick = lambda t: t.index_select(1, index)  # noqa: E731  (hidden is (layers, B, H))
        rest["hidden"] = tuple(pick(t) for t in hidden) if isinstance(hidden, tuple) else pick(hidden)
        return rest
