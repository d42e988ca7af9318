"""Vision Transformer (Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words"), eq. 1-4.

    z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos,   z_L = Encoder(z_0),   y = Head(LN(z_L^0))

Images are cut into ``patch_size x patch_size`` patches, each linearly embedded (a strided
convolution is the same linear map applied to every patch). Sizes suited to CPU: 8x8 digits with
patch 2 or 4, 28x28 Fashion-MNIST with patch 4 or 7.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .transformer import TransformerEncoder
from .transformer_config import TransformerConfig


class PatchEmbedding(nn.Module):
    """``images (B, C, H, W) -> patches (B, N, d_model)`` with ``N = (H / P) * (W / P)``."""

    def __init__(self, image_size: int, patch_size: int, channels: int, d_model: int) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"patch_size: {patch_size} does not divide image_size={image_size}")
        self.image_size, self.patch_size, self.channels = image_size, patch_size, channels
        self.num_patches = (image_size // patch_size) ** 2
        self.proj = nn.Conv2d(channels, d_model, kernel_size=patch_size, stride=patch_size)  # E

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() == 3 and self.channels == 1:
            images = images[:, None]  # (B, 1, H, W)
        expected = (self.channels, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"images: expected (B, {', '.join(map(str, expected))}), got {tuple(images.shape)}"
            )
        x = self.proj(images.float())  # (B, d_model, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, d_model)


class VisionTransformer(nn.Module):
    """``images -> (logits (B, num_classes), attentions)``; token 0 of the attentions is [CLS]."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.patches = PatchEmbedding(config.image_size, config.patch_size, config.channels, config.d_model)
        self.encoder = TransformerEncoder(config, vocab_size=0, max_len=self.patches.num_patches + 1)
        self.cls = nn.Parameter(torch.randn(1, 1, config.d_model) * 0.02)  # x_class
        self.head = nn.Linear(config.d_model, config.num_classes)

    def forward(self, images: Tensor, *, need_weights: bool = False) -> tuple[Tensor, dict | None]:
        x = self.patches(images)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + N, d_model)
        h, att = self.encoder(x, need_weights=need_weights)
        return self.head(h[:, 0]), att
