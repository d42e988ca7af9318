"""Nyström attention (Xiong et al., 2021, "Nyströmformer", eq. 14):

    softmax(QKᵀ·s) V  ≈  softmax(Q K̃ᵀ·s) · pinv(softmax(Q̃ K̃ᵀ·s)) · softmax(Q̃ Kᵀ·s) V

with ``m`` landmarks Q̃, K̃ the means of ``m`` contiguous segments of the queries and keys. Cost is
O(N·m) for the two thin softmaxes plus O(m³) for the pseudo-inverse. With one landmark per token
(``m = N``) it is exactly softmax attention, which the tests use as its oracle. Non-causal, unmasked:
the landmarks mix positions, so no mask can be honoured.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..request import Backend, Request, expand_kv, register_backend, unmasked_only

check = unmasked_only("Nyström landmarks average positions together", "landmark scores")


def landmarks(x: Tensor, m: int) -> Tensor:
    """Means of ``m`` contiguous, nearly equal segments along the sequence: (B, H, L, D) -> (B, H, m, D)."""
    length = x.shape[2]
    bounds = torch.linspace(0, length, m + 1).round().long().tolist()
    means = [x[:, :, a:b].mean(dim=2) for a, b in zip(bounds[:-1], bounds[1:])]  # m x (B, H, D)
    return torch.stack(means, dim=2)  # (B, H, m, D)


def nystrom(num_landmarks: int = 64, name: str = "nystrom") -> Backend:
    """A Nyström backend with ``num_landmarks`` landmarks (capped at the sequence length)."""
    if num_landmarks < 1:
        raise ValueError(f"num_landmarks: expected >= 1, got {num_landmarks}")

    def parts(q: Tensor, k: Tensor, req: Request) -> tuple[Tensor, Tensor, Tensor]:
        k = expand_kv(k, req.group)
        m = min(num_landmarks, req.q_len, req.kv_len)
        q_l, k_l = landmarks(q, m), landmarks(k, m)  # (B, H, m, D)
        f = torch.softmax(q @ k_l.transpose(-1, -2) * req.scale, dim=-1)  # (B, H, Lq, m)
        a = torch.softmax(q_l @ k_l.transpose(-1, -2) * req.scale, dim=-1)  # (B, H, m, m)
        b = torch.softmax(q_l @ k.transpose(-1, -2) * req.scale, dim=-1)  # (B, H, m, Lk)
        return f, torch.linalg.pinv(a), b

    def fn(q: Tensor, k: Tensor, v: Tensor, req: Request) -> Tensor:
        f, a_inv, b = parts(q, k, req)
        return f @ (a_inv @ (b @ expand_kv(v, req.group)))  # right to left: O(N·m)

    def weights(q: Tensor, k: Tensor, req: Request) -> Tensor:
        f, a_inv, b = parts(q, k, req)
        return f @ a_inv @ b

    return Backend(
        name,
        fn,
        check,
        f"Nyström attention ({num_landmarks} landmarks, Xiong et al., 2021); "
        "O(N·m), approximates softmax, no masks",
        exact=False,
        weights=weights,
    )


register_backend(nystrom())
