"""Cross-modal attention: text queries over image patches, image patches over text, co-attention.

One direction (the cross-attention of Vaswani et al., 2017, with the queries from one modality and the
keys/values from the other; Xu et al., 2015 attend from a caption over image regions):

    x' = x + MHA(LN(x), LN(y), LN(y)),   MHA = Concat_h softmax(x W^Q_h (y W^K_h)^T / sqrt(d_h)) y W^V_h W^O

ViLBERT's co-attentional transformer layer (Lu et al., 2019, Fig. 2b) runs both directions at once,
each stream taking keys and values from the other stream's input, then a feed-forward sublayer:

    t' = FFN(t + MHA(t, v, v)),   v' = FFN(v + MHA(v, t, t))

Parallel co-attention (Lu et al., 2016, "Hierarchical Question-Image Co-Attention", sec. 3.3), with
``Q (T, d)`` question features and ``V (N, d)`` image features:

    C = tanh(Q W_b V^T),  H^v = tanh(V W_v + C^T (Q W_q)),  H^q = tanh(Q W_q + C (V W_v))
    a^v = softmax(H^v w_hv),  a^q = softmax(H^q w_hq),  v̂ = Σ_n a^v_n v_n,  q̂ = Σ_t a^q_t q_t

Padding: ``text_mask``/``image_mask`` are bool ``(B, L)``, True = a real token/patch; masked keys get
weight 0 (fully masked rows read zeros, never NaN).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attention.normalizers import softmax
from .attention_config import AttentionConfig
from .feedforward import FeedForward
from .multihead import MultiHeadAttention


def _key_mask(mask: Tensor | None, b: int, length: int, name: str) -> Tensor | None:
    if mask is None:
        return None
    if mask.dtype != torch.bool or tuple(mask.shape) != (b, length):
        raise ValueError(
            f"{name}: expected a bool tensor (B, L) = {(b, length)}, got {mask.dtype} {tuple(mask.shape)}"
        )
    return mask[:, None, None, :]  # (B, 1, 1, Lk): broadcast over heads and queries


class CrossModalAttention(nn.Module):
    """Pre-norm residual cross-attention from ``x (B, Lx, d_model)`` over ``context (B, Lc, context_dim)``.

    Text -> image: ``x`` are question tokens, ``context`` image patches; image -> text the other way.
    ``forward`` returns ``(x', weights (B, H, Lx, Lc))``.
    """

    def __init__(
        self, d_model: int, num_heads: int, *, context_dim: int | None = None, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(d_model)
        self.norm_c = nn.LayerNorm(context_dim or d_model)
        self.attn = MultiHeadAttention(
            d_model, num_heads, AttentionConfig(dropout=dropout), kdim=context_dim, vdim=context_dim
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, context: Tensor, context_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if x.dim() != 3 or context.dim() != 3 or context.shape[0] != x.shape[0]:
            raise ValueError(
                f"x, context: expected (B, Lx, d) and (B, Lc, d_c) with the same B, got "
                f"{tuple(x.shape)} and {tuple(context.shape)}"
            )
        mask = _key_mask(context_mask, x.shape[0], context.shape[1], "context_mask")
        c = self.norm_c(context)
        out, w = self.attn(self.norm_x(x), c, c, mask=mask, need_weights=True)
        return x + self.drop(out), w


class CoAttentionLayer(nn.Module):
    """ViLBERT co-attentional layer: text attends to the image and the image to the text, in parallel.

    ``forward(text (B, T, d), image (B, N, d), text_mask, image_mask)`` returns
    ``(text', image', {"text_to_image": (B, H, T, N), "image_to_text": (B, H, N, T)})``.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.text_to_image = CrossModalAttention(d_model, num_heads, dropout=dropout)
        self.image_to_text = CrossModalAttention(d_model, num_heads, dropout=dropout)
        d_ff = d_ff or 4 * d_model
        self.norm_t, self.norm_v = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.ff_t = FeedForward(d_model, d_ff, dropout=dropout)
        self.ff_v = FeedForward(d_model, d_ff, dropout=dropout)

    def forward(
        self,
        text: Tensor,
        image: Tensor,
        text_mask: Tensor | None = None,
        image_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        t, w_tv = self.text_to_image(text, image, image_mask)  # both read the layer's inputs
        v, w_vt = self.image_to_text(image, text, text_mask)
        t = t + self.ff_t(self.norm_t(t))
        v = v + self.ff_v(self.norm_v(v))
        return t, v, {"text_to_image": w_tv, "image_to_text": w_vt}


class ParallelCoAttention(nn.Module):
    """Lu et al. (2016) parallel co-attention: an affinity matrix couples question and image attention.

    ``forward(q (B, T, d), v (B, N, d), text_mask, image_mask)`` returns
    ``(v̂ (B, d), q̂ (B, d), a^v (B, N), a^q (B, T))``.
    """

    def __init__(self, d_model: int, d_hidden: int | None = None) -> None:
        super().__init__()
        k = d_hidden or d_model
        self.w_b = nn.Parameter(torch.randn(d_model, d_model) * d_model**-0.5)  # W_b
        self.w_v = nn.Linear(d_model, k, bias=False)  # W_v
        self.w_q = nn.Linear(d_model, k, bias=False)  # W_q
        self.w_hv = nn.Linear(k, 1, bias=False)  # w_hv
        self.w_hq = nn.Linear(k, 1, bias=False)  # w_hq

    def forward(
        self,
        q: Tensor,
        v: Tensor,
        text_mask: Tensor | None = None,
        image_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if q.dim() != 3 or v.dim() != 3 or q.shape[0] != v.shape[0] or q.shape[-1] != v.shape[-1]:
            raise ValueError(
                f"q, v: expected (B, T, d) and (B, N, d), got {tuple(q.shape)} and {tuple(v.shape)}"
            )
        b, t, n = q.shape[0], q.shape[1], v.shape[1]
        tm = _key_mask(text_mask, b, t, "text_mask")
        im = _key_mask(image_mask, b, n, "image_mask")
        c = torch.tanh(q @ self.w_b @ v.transpose(1, 2))  # (B, T, N)
        if tm is not None:  # padded words/patches must not leak into the other modality's features
            c = c * tm[:, 0, 0, :, None]
        if im is not None:
            c = c * im[:, 0, 0, None, :]
        wq, wv = self.w_q(q), self.w_v(v)  # (B, T, k), (B, N, k)
        h_v = torch.tanh(wv + c.transpose(1, 2) @ wq)  # (B, N, k)
        h_q = torch.tanh(wq + c @ wv)  # (B, T, k)
        s_v, s_q = self.w_hv(h_v).squeeze(-1), self.w_hq(h_q).squeeze(-1)  # (B, N), (B, T)
        if im is not None:
            s_v = s_v.masked_fill(~im[:, 0, 0], float("-inf"))
        if tm is not None:
            s_q = s_q.masked_fill(~tm[:, 0, 0], float("-inf"))
        a_v, a_q = softmax(s_v, dim=-1), softmax(s_q, dim=-1)
        return (a_v[:, :, None] * v).sum(1), (a_q[:, :, None] * q).sum(1), a_v, a_q
