"""Decoder-only language model (Radford et al., 2018, GPT) with KV-cache generation.

``p(x_t | x_<t) = softmax(h_t E^T)`` where ``h_t`` is the output of a causal Transformer stack.
Generation decodes one token at a time, reusing each layer's cached keys and values; sampling is
greedy, temperature ``softmax(z / T)``, top-k (Fan et al., 2018) or nucleus / top-p (Holtzman et al.,
2020), with a ``torch.Generator`` for reproducible draws.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers.kv_cache import LayerCache, new_caches
from .transformer import Embedder, TransformerStack
from .transformer_config import TransformerConfig


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to ``-inf`` every logit outside the ``top_k`` largest and outside the smallest set of tokens
    whose probability reaches ``top_p`` (the most probable token always survives). ``logits (B, V)``."""
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k: expected an int >= 1, got {top_k}")
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p: expected a float in (0, 1], got {top_p}")
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens before it already reach top_p.
        drop_sorted = probs.cumsum(dim=-1) - probs >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Next token ids ``(B,)`` from ``logits (B, V)``; ``temperature=0`` is greedy (argmax)."""
    if temperature < 0:
        raise ValueError(f"temperature: expected >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class _NoFeedForward(nn.Module):
    """Replaces a block's feed-forward residual in attention-only models: ``x -> x``."""

    def forward(self, x: Tensor, fn) -> tuple[Tensor, None]:
        return x, None


class TransformerLM(nn.Module):
    """GPT-style decoder-only model: ``tokens (B, L) -> (logits (B, L, V), attentions)``.

    ``config.attention_only`` drops every feed-forward sublayer, leaving the attention-only
    Transformers of Elhage et al. (2021) / Olsson et al. (2022) used to study induction heads.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = Embedder(config.vocab_size, config)
        self.stack = TransformerStack(config, config.num_layers, causal=True)
        if config.attention_only:
            for layer in self.stack.layers:
                layer.ff, layer.ff_res = None, _NoFeedForward()
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.head.weight = self.embed.tokens.weight

    def new_cache(self) -> list[LayerCache]:
        """Empty per-layer KV caches for :meth:`forward` / :meth:`generate`."""
        return new_caches(len(self.stack.layers))

    def forward(
        self,
        tokens: Tensor,
        *,
        cache: list[LayerCache] | None = None,
        mask=None,
        need_weights: bool = False,
    ) -> tuple[Tensor, dict | None]:
        """Next-token logits. With a ``cache``, ``tokens`` are the new tokens only; their positions
        continue after the cached ones. ``mask`` is an extra engine mask, combined with causal."""
        offset = 0 if cache is None else cache[0].self_attn.length
        x = self.embed(tokens, offset=offset)  # (B, L, d_model)
        x, ws, _ = self.stack(x, mask=mask, caches=cache, need_weights=need_weights)
        return self.head(x), ({"decoder": ws} if need_weights else None)

    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int = 32,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        eos_id: int | None = None,
    ) -> Tensor:
        """Continue ``prompt (B, Lp)`` by up to ``max_new_tokens`` tokens with a KV cache.

        ``temperature=0`` decodes greedily. Rows that produced ``eos_id`` are padded with ``pad_id``.
        Returns ``(B, Lp + T)``.
        """
        if prompt.dim() != 2 or prompt.shape[1] < 1:
            raise ValueError(f"prompt: expected token ids (B, Lp) with Lp >= 1, got {tuple(prompt.shape)}")
        if self.config.position == "learned" and prompt.shape[1] + max_new_tokens > self.config.max_len:
            raise ValueError(
                f"max_new_tokens: prompt ({prompt.shape[1]}) + {max_new_tokens} exceeds max_len="
                f"{self.config.max_len} of the learned positions"
            )
        cache = self.new_cache()
        out = prompt
        done = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)
        step_input = prompt
        for _ in range(max_new_tokens):
            logits, _ = self(step_input, cache=cache)
            nxt = sample_next(logits[:, -1], temperature, top_k, top_p, generator)
            nxt = nxt.masked_fill(done, self.config.pad_id)
            out = torch.cat([out, nxt[:, None]], dim=1)
            if eos_id is not None:
                done |= nxt == eos_id
                if bool(done.all()):
                    break
            step_input = nxt[:, None]
        return out
