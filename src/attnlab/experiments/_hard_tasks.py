"""The models, tasks and training loop of the ``hard-vs-soft`` experiment (lesson 4).

"Find the marked token" (one learned query over the tokens) and a glimpse model on digits (Mnih et al.,
2014, simplified: a GRU core picks one window of a 4x4 grid per step); both attend through
:class:`attnlab.layers.HardAttention`, so they differ only in the normaliser.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.data.datasets import digits
from attnlab.layers import HardAttention, MovingAverageBaseline, reinforce_loss

from ._fit import fit

METHODS = {"soft": "softmax", "reinforce": "reinforce", "gumbel": "gumbel", "sparsemax": "sparsemax"}
GRID, STEPS, VOCAB = 4, 3, 10


class MarkedTokenModel(nn.Module):
    """Keys = embed(value) + embed(mark), values = embed(value); one learned query; linear readout."""

    def __init__(self, d: int, normalizer: str) -> None:
        super().__init__()
        self.value, self.mark = nn.Embedding(VOCAB, d), nn.Embedding(2, d)
        self.query = nn.Parameter(torch.randn(1, 1, d) / d**0.5)
        self.attn = HardAttention(d, normalizer=normalizer, score="additive")
        nn.init.zeros_(self.attn.score.v.weight)  # start from uniform weights (see the docstring of run)
        self.out = nn.Linear(d, VOCAB)

    def forward(self, tokens, marks):
        vals = self.value(tokens)  # (B, L, d)
        o = self.attn(self.query.expand(len(tokens), 1, -1), vals + self.mark(marks.long()), vals)
        return self.out(o.context[:, 0]), [o]


class GlimpseModel(nn.Module):
    """A recurrent core that looks at one window of a 4x4 grid per step (Mnih et al., 2014, simplified)."""

    def __init__(self, d: int, normalizer: str) -> None:
        super().__init__()
        self.patch, self.where = nn.Linear(64, d), nn.Embedding(GRID * GRID, d)
        nn.init.normal_(self.where.weight, std=0.1)  # N(0, 1) would drown the pixels' signal
        self.core = nn.GRUCell(d, d)
        self.attn = HardAttention(d, normalizer=normalizer, score="location", max_len=GRID * GRID)
        nn.init.zeros_(self.attn.score.proj.weight)
        nn.init.zeros_(self.attn.score.proj.bias)
        self.out = nn.Linear(d, VOCAB)

    def forward(self, canvas):  # (B, 1, 16, 16)
        windows = F.unfold(F.pad(canvas, (2, 2, 2, 2)), kernel_size=8, stride=4)  # (B, 64, 16)
        g = F.relu(self.patch(windows.transpose(1, 2)) + self.where.weight)  # (B, 16, d)
        h, outs = canvas.new_zeros(len(canvas), g.shape[-1]), []
        for _ in range(STEPS):
            o = self.attn(h[:, None], g, g)  # query (B, 1, d): the policy reads the core's state
            outs.append(o)
            h = self.core(o.context[:, 0], h)
        return self.out(h), outs


def marked_batch(n: int, length: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (n, length), generator=gen)
    where = torch.randint(0, length, (n,), generator=gen)
    marks = F.one_hot(where, length).bool()  # (B, L)
    return tokens, marks, tokens[torch.arange(n), where]


def place_digits(images, seed: int):
    """Each 8x8 digit at a random offset of a 16x16 canvas: ``(B, 1, 16, 16)``."""
    gen = torch.Generator().manual_seed(seed)
    off = torch.randint(0, 9, (len(images), 2), generator=gen)
    canvas = images.new_zeros(len(images), 1, 16, 16)
    for i, (r, c) in enumerate(off.tolist()):
        canvas[i, :, r : r + 8, c : c + 8] = images[i]
    return canvas


def make_task(task: str, cfg: dict, seed: int):
    """``(model factory, batch_fn(step), eval batch, test batch)`` for one task."""
    if task == "marked":
        n = cfg["n_eval"]
        return (
            lambda norm: MarkedTokenModel(cfg["d"], norm),
            lambda step: marked_batch(cfg["batch"], cfg["length"], seed * 1_000_003 + step),
            marked_batch(n, cfg["length"], 10**9 + seed),
            marked_batch(n, cfg["length"], 2 * 10**9 + seed),
        )
    train, valid, test = (digits.load(s, seed=seed) for s in ("train", "valid", "test"))

    def batch_fn(step: int):
        idx = torch.randint(0, len(train), (cfg["batch"],), generator=torch.Generator().manual_seed(step))
        return place_digits(train.images[idx], seed * 1_000_003 + step), train.labels[idx]

    lim = cfg["n_eval"]
    return (
        lambda norm: GlimpseModel(cfg["d"], norm),
        batch_fn,
        (place_digits(valid.images[:lim], 10**9 + seed), valid.labels[:lim]),
        (place_digits(test.images[:lim], 2 * 10**9 + seed), test.labels[:lim]),
    )


def loss_fn(model, batch, beta: float = 0.01):
    """Cross-entropy, plus for REINFORCE the score-function loss with reward ``log p(y | glimpses)``."""
    logits, outs = model(*batch[:-1])
    ce = F.cross_entropy(logits, batch[-1], reduction="none")  # (B,)
    if outs[0].log_prob is None:
        return ce.mean()
    logp = torch.cat([o.log_prob for o in outs], 1)  # (B, T)
    ent = torch.cat([o.entropy for o in outs], 1)
    reward = -ce.detach()
    return ce.mean() + reinforce_loss(logp, reward, model.baseline(reward), ent, entropy_weight=beta)


@torch.no_grad()
def evaluate(model, batch) -> dict:
    was = model.training
    model.eval()
    logits, outs = model(*batch[:-1])
    w = torch.cat([o.weights for o in outs], 1)  # (B, T, Lk)
    model.train(was)
    stats = {
        "accuracy": float((logits.argmax(-1) == batch[-1]).float().mean()),
        "share_zero_weights": float((w == 0).float().mean()),
        "top1_mass": float(w.max(-1).values.mean()),
    }
    if len(batch) == 3:  # marked task: how much attention lands on the marked token
        stats["mass_on_marked"] = float((w[:, 0] * batch[1]).sum(-1).mean())
    return stats | {"_weights": w}


def gradient_noise(model, batch_fn, k: int) -> dict:
    """Variance of the scorer's gradient over ``k`` minibatches: ``tr Cov[g]`` and ``tr Cov[g] / |E g|²``."""
    params = list(model.attn.score.parameters())
    state = {n: b.clone() for n, b in model.baseline.state_dict().items()}
    grads = []
    for i in range(k):
        g = torch.autograd.grad(loss_fn(model, batch_fn(10**8 + i)), params, allow_unused=True)
        grads.append(
            torch.cat([(x if x is not None else torch.zeros_like(p)).flatten() for x, p in zip(g, params)])
        )
    model.baseline.load_state_dict(state)
    g = torch.stack(grads)  # (k, P)
    var, mean_sq = float(g.var(0).sum()), float(g.mean(0).pow(2).sum())
    return {"trace_var": var, "noise_to_signal": var / max(mean_sq, 1e-30)}


def train_one(task: str, method: str, cfg: dict, seed: int, quiet: bool) -> dict:
    factory, batch_fn, eval_batch, test_batch = make_task(task, cfg, seed)
    torch.manual_seed(seed)  # the same initial parameters for every method
    model = factory(METHODS[method])
    model.baseline = MovingAverageBaseline(0.9)
    grad_init = gradient_noise(model, batch_fn, cfg["grad_batches"])
    curve = []

    def batch_with_eval(step: int):
        if step % cfg["eval_every"] == 0:
            curve.append([step, evaluate(model, eval_batch)["accuracy"]])
        return batch_fn(step)

    log = fit(model, batch_with_eval, loss_fn, cfg["steps"], lr=cfg["lr"], warmup=10,
              desc=f"{task}/{method}", quiet=quiet)  # fmt: skip
    curve.append([log.steps, evaluate(model, eval_batch)["accuracy"]])
    model.train()
    final = evaluate(model, test_batch)
    return {
        **{k: v for k, v in final.items() if not k.startswith("_")},
        "curve": curve,
        "grad_init": grad_init,
        "grad_final": gradient_noise(model, batch_fn, cfg["grad_batches"]),
        "train_s": round(log.seconds, 2),
        "_weights": final["_weights"],
        "_canvas": test_batch[0] if task == "digits" else None,
    }


def steps_to(curve, threshold: float):
    return next((s for s, acc in curve if acc >= threshold), None)
