"""Transformer encoder, decoder and encoder-decoder (Vaswani et al., 2017, "Attention Is All You Need").

    encoder: x = Embed(src) + PE;  N x [self-attention, FFN]                       (bidirectional)
    decoder: y = Embed(tgt) + PE;  N x [causal self-attention, cross-attention, FFN];  logits = y E^T

The position scheme is one config field (sinusoidal, learned, rope, alibi, t5, shaw, none); every
self-attention layer can have its own engine mask and backend. All models return
``(output, attentions)`` where ``attentions`` maps ``"encoder"`` / ``"decoder"`` / ``"cross"`` to lists
with one ``(B, H, Lq, Lk)`` weight tensor per layer (None unless ``need_weights``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..attention import masks, positions
from ..attention.masks import Mask
from ..layers.attention_config import combine_masks
from ..layers.blocks import TransformerBlock
from ..layers.kv_cache import LayerCache, new_caches, reorder_caches
from .beam import beam_search
from .transformer_config import TransformerConfig


class Embedder(nn.Module):
    """Token embeddings scaled by ``sqrt(d_model)`` (Vaswani et al., 2017, sec. 3.4) plus absolute
    positions (sinusoidal or learned) when the config asks for them, then dropout.

    ``forward`` takes token ids ``(B, L)`` or ready vectors ``(B, L, d_model)`` (patches, [CLS]...).
    """

    def __init__(self, vocab_size: int | None, config: TransformerConfig, max_len: int | None = None) -> None:
        super().__init__()
        d = config.d_model
        self.scale = math.sqrt(d)
        self.tokens = nn.Embedding(vocab_size, d) if vocab_size else None
        if self.tokens is not None:
            nn.init.normal_(self.tokens.weight, std=d**-0.5)  # unit variance after the sqrt(d) scale
        self.positions: nn.Module | None = None
        if config.position == "sinusoidal":
            self.positions = positions.SinusoidalPositions(d)
        elif config.position == "learned":
            self.positions = positions.LearnedPositions(max_len or config.max_len, d)
        self.drop = nn.Dropout(config.dropout)

    def embed(self, ids: Tensor) -> Tensor:
        if self.tokens is None:
            raise ValueError("ids: this model takes vectors (B, L, d_model), not token ids")
        if ids.dim() != 2 or ids.dtype not in (torch.long, torch.int32, torch.int64):
            raise ValueError(f"tokens: expected integer ids (B, L), got {ids.dtype} {tuple(ids.shape)}")
        return self.tokens(ids) * self.scale  # (B, L, d_model)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        if not x.is_floating_point():
            x = self.embed(x)
        if self.positions is not None:
            x = self.positions(x, offset=offset)
        return self.drop(x)


class TransformerStack(nn.Module):
    """``num_layers`` :class:`TransformerBlock` s (+ a final LayerNorm for pre-norm stacks)."""

    def __init__(self, config: TransformerConfig, num_layers: int, causal: bool, cross: bool = False) -> None:
        super().__init__()
        self.causal = causal
        self.layers = nn.ModuleList(
            TransformerBlock(
                config.d_model,
                config.num_heads,
                config.d_ff,
                attention=config.layer_attention(i, num_layers, causal),
                dropout=config.dropout,
                activation=config.activation,
                norm_first=config.norm_first,
                cross_attention=cross,
            )
            for i in range(num_layers)
        )
        self.norm = nn.LayerNorm(config.d_model) if config.norm_first else nn.Identity()

    def forward(
        self,
        x: Tensor,
        *,
        mask=None,
        memory: Tensor | None = None,
        memory_mask=None,
        caches: list[LayerCache] | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """Returns ``(x, self_weights, cross_weights)``, the lists empty unless ``need_weights``."""
        self_ws, cross_ws = [], []
        mask = combine_masks(masks.causal() if self.causal else None, mask)
        for i, layer in enumerate(self.layers):
            x, w = layer(
                x,
                mask=mask,
                memory=memory,
                memory_mask=memory_mask,
                cache=None if caches is None else caches[i],
                need_weights=need_weights,
            )
            if need_weights:
                self_ws.append(w["self"])
                if "cross" in w:
                    cross_ws.append(w["cross"])
        return self.norm(x), self_ws, cross_ws


def padding_mask(lengths: Tensor | None) -> Mask | None:
    return None if lengths is None else masks.padding(lengths)


class TransformerEncoder(nn.Module):
    """Bidirectional encoder: ``(tokens (B, L), lengths) -> (hidden (B, L, d_model), attentions)``."""

    def __init__(
        self, config: TransformerConfig, vocab_size: int | None = None, max_len: int | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.embed = Embedder(config.vocab_size if vocab_size is None else vocab_size, config, max_len)
        self.stack = TransformerStack(config, config.num_layers, causal=False)

    def forward(
        self, tokens: Tensor, lengths: Tensor | None = None, *, mask=None, need_weights: bool = False
    ) -> tuple[Tensor, dict | None]:
        """``tokens``: ids ``(B, L)`` or vectors ``(B, L, d_model)``; ``lengths (B,)`` hides padding."""
        x = self.embed(tokens)
        x, ws, _ = self.stack(x, mask=combine_masks(padding_mask(lengths), mask), need_weights=need_weights)
        return x, ({"encoder": ws} if need_weights else None)


class TransformerDecoder(nn.Module):
    """Causal decoder with cross-attention to an encoder memory, and a (tied) output projection."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        vocab = config.tgt_vocab_size or config.vocab_size
        self.config = config
        self.embed = Embedder(vocab, config)
        self.stack = TransformerStack(
            config, config.num_decoder_layers or config.num_layers, True, cross=True
        )
        self.head = nn.Linear(config.d_model, vocab, bias=False)
        if config.tie_embeddings:
            self.head.weight = self.embed.tokens.weight  # Press & Wolf (2017): share input/output embeddings

    def new_cache(self) -> list[LayerCache]:
        return new_caches(len(self.stack.layers))

    def forward(
        self,
        tokens: Tensor,
        memory: Tensor,
        memory_lengths: Tensor | None = None,
        *,
        cache: list[LayerCache] | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, dict | None]:
        """``tokens (B, Lt)`` (only the new ones with a ``cache``) -> ``logits (B, Lt, V)``."""
        offset = 0 if cache is None else cache[0].self_attn.length
        x = self.embed(tokens, offset=offset)
        x, self_ws, cross_ws = self.stack(
            x,
            memory=memory,
            memory_mask=padding_mask(memory_lengths),
            caches=cache,
            need_weights=need_weights,
        )
        logits = self.head(x)  # (B, Lt, V)
        return logits, ({"decoder": self_ws, "cross": cross_ws} if need_weights else None)


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder for translation / summarisation; trained with teacher forcing on ``tgt_in``."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = TransformerEncoder(config)
        self.decoder = TransformerDecoder(config)

    def forward(
        self,
        src: Tensor,
        tgt_in: Tensor,
        src_lengths: Tensor | None = None,
        *,
        need_weights: bool = False,
    ) -> tuple[Tensor, dict | None]:
        """``src (B, Ls)``, ``tgt_in (B, Lt)`` (starting with BOS) -> ``logits (B, Lt, V)``."""
        memory, enc_w = self.encoder(src, src_lengths, need_weights=need_weights)
        logits, dec_w = self.decoder(tgt_in, memory, src_lengths, need_weights=need_weights)
        return logits, ({**enc_w, **dec_w} if need_weights else None)

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, src_lengths: Tensor | None = None, max_len: int = 32) -> Tensor:
        """Greedy decoding with a KV cache; returns ``(B, T)`` ids after BOS (pad after EOS)."""
        cfg = self.config
        memory, _ = self.encoder(src, src_lengths)
        cache = self.decoder.new_cache()
        last = torch.full((src.shape[0], 1), cfg.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        out = []
        for _ in range(max_len):
            logits, _ = self.decoder(last, memory, src_lengths, cache=cache)
            nxt = logits[:, -1].argmax(-1).masked_fill(done, cfg.pad_id)  # (B,)
            out.append(nxt)
            done |= nxt == cfg.eos_id
            last = nxt[:, None]
            if bool(done.all()):
                break
        return torch.stack(out, dim=1)

    @torch.no_grad()
    def beam_search(
        self, src: Tensor, src_lengths: Tensor | None = None, beam_size: int = 4, max_len: int = 32,
        length_penalty: float = 1.0,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """Beam search (see :func:`attnlab.models.beam.beam_search`); returns ``(tokens, scores)``."""
        cfg = self.config
        memory, _ = self.encoder(src, src_lengths)
        memory = memory.repeat_interleave(beam_size, dim=0)  # (B*K, Ls, d)
        lengths = None if src_lengths is None else src_lengths.repeat_interleave(beam_size)
        cache = self.decoder.new_cache()

        def step(last: Tensor, state):
            logits, _ = self.decoder(last[:, None], memory, lengths, cache=state)
            return logits[:, -1].log_softmax(-1), state

        return beam_search(
            step, cache, batch_size=src.shape[0], beam_size=beam_size, bos_id=cfg.bos_id,
            eos_id=cfg.eos_id, pad_id=cfg.pad_id, max_len=max_len, length_penalty=length_penalty,
            reorder=reorder_caches,
        )  # fmt: skip
