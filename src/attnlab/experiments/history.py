"""Lesson 0: from the perceptron to attention — six classic models on the same images.

The course opens with history. Rosenblatt's perceptron (1958) is a linear threshold unit
``y = sign(w·x + b)``; kernel SVMs (Cortes & Vapnik, 1995) separate classes with a maximum-margin
boundary in a feature space ``k(x, x') = exp(-γ||x - x'||²)``; multi-layer perceptrons trained with
back-propagation (Rumelhart et al., 1986) learn their features; LeNet (LeCun et al., 1998) shares
convolution weights across the image; recurrent networks read a sequence step by step,
``h_t = f(W x_t + U h_{t-1})`` (here: an LSTM, Hochreiter & Schmidhuber, 1997, reading rows); and
the Vision Transformer (Dosovitskiy et al., 2021) cuts the image into patches and lets every patch
attend to every other, ``softmax(QKᵀ/√d)V``. Dosovitskiy et al. report that ViTs, lacking the CNN's
locality and weight sharing, trail CNNs of similar size when trained on small data sets and overtake
them only with much more data.

All six are trained on the same split of scikit-learn's 8x8 digits (through ``attnlab.data``; the
split is drawn from the seed) and, in the full profile, on 20,000 / 5,000 Fashion-MNIST images when
the Debian package ``dataset-fashion-mnist`` is installed. The four networks share one training rule:
the same batches, the same number of steps, AdamW at one learning rate for every model (``LR``, no
per-model tuning). We report test accuracy and parameter count (for the SVM: the numbers it stores —
support vectors, dual coefficients, biases); training seconds are timings, not metrics. For each data set
a figure shows where the trained ViT looks: the attention rollout (Abnar & Zuidema, 2020; ``R = Ã_L ⋯ Ã_1``
with ``Ã = ½A + ½I`` for the residual, heads averaged, :func:`attnlab.interpret.attention_rollout`) from
[CLS] to the patches of the first test images, drawn over them (on Fashion-MNIST in the full profile).

Criteria (:func:`criteria`), on digits (primary) and on Fashion-MNIST when it ran (secondary):

- ``perceptron-last``: the weakest of SVM, MLP and CNN beats the perceptron on every seed (``compare``,
  rule "every": both sides of a seed see the same split);
- ``vit-below-cnn``: the CNN beats the ViT by more than the seeds' spread (``compare``, rule
  "spread"): one test split of a few hundred images cannot separate two models closer than that.

Full profile: 3 seeds, 2,500 steps per network on both data sets: about 6 minutes per seed on one core
(timed steps extrapolated; about 2.5 of them for the RBF SVM on 20,000 Fashion-MNIST images), so the
training sets keep their size.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.data import DatasetUnavailable, get_task
from attnlab.figures import bar_errors, mean_min_max, plt
from attnlab.interpret import attention_rollout
from attnlab.models import create_model

from ._fit import fit
from ._measure import count_params
from ._seq_tasks import step_indices
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, not_judged

MODELS = ("perceptron", "svm", "mlp", "cnn", "rnn", "vit")
PROFILES = {
    "smoke": dict(datasets={"digits": dict(train=200, test=60)}, steps=3, batch=16),
    "quick": dict(datasets={"digits": dict(train=None, test=None)}, steps=300, batch=64),
    "full": dict(
        datasets={"digits": dict(train=None, test=None), "fashion-mnist": dict(train=20000, test=5000)},
        steps=2500,
        batch=64,
    ),
}
# One learning rule for every network: Adam's default step size (Kingma & Ba, 2015) with AdamW, a
# 50-step warmup and the same batches. A rate tuned per model would make the comparison one of tuning.
LR, WARMUP = 1e-3, 50
SVM = dict(kernel="rbf", C=10.0, gamma="scale")
ROLLOUT_IMAGES = 6  # test images whose ViT rollout is drawn (a figure only: no metric depends on it)


class LeNet(nn.Module):
    """LeNet-style CNN (LeCun et al., 1998): two conv + max-pool stages, then two linear layers."""

    def __init__(self, size: int, classes: int = 10) -> None:
        super().__init__()
        if size % 4:
            raise ValueError(f"size: expected a multiple of 4 (two 2x2 poolings), got {size}")
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 6, S/2, S/2)
            nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, S/4, S/4)
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * (size // 4) ** 2, 64), nn.ReLU(), nn.Linear(64, classes)
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


class RowRNN(nn.Module):
    """An LSTM that reads an image one row per step; its last state is classified."""

    def __init__(self, size: int, hidden: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.rnn = nn.LSTM(size, hidden, batch_first=True)
        self.out = nn.Linear(hidden, classes)

    def forward(self, images: Tensor) -> Tensor:
        h, _ = self.rnn(images[:, 0])  # rows as steps: (B, H, W) -> (B, H, hidden)
        return self.out(h[:, -1])


def build_torch_model(name: str, size: int) -> nn.Module:
    """The torch models of the comparison for ``size x size`` greyscale images and 10 classes."""
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(size * size, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "cnn":
        return LeNet(size)
    if name == "rnn":
        return RowRNN(size)
    if name == "vit":
        patch = 2 if size == 8 else 4
        return create_model(
            "vit", image_size=size, patch_size=patch, d_model=64, num_heads=4, num_layers=2, num_classes=10,
            position="learned", max_len=(size // patch) ** 2 + 1,
        )  # fmt: skip
    raise ValueError(f"name: expected one of {MODELS[2:]}, got {name!r}")


def load(dataset: str, spec: dict, seed: int):
    """``(train images, train labels, test images, test labels)``; digits test = its valid + test splits."""
    loader = get_task(dataset).function().__globals__["load"]
    train = loader("train", seed=seed, limit=spec["train"])
    if dataset == "digits":  # 180 test images are too few; score on valid + test (360)
        parts = [loader(s, seed=seed) for s in ("valid", "test")]
        x_test, y_test = torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts])
        if spec["test"] is not None:
            x_test, y_test = x_test[: spec["test"]], y_test[: spec["test"]]
    else:
        test = loader("test", seed=seed, limit=spec["test"])
        x_test, y_test = test.images, test.labels
    return train.images, train.labels, x_test, y_test


def train_one(name: str, data: tuple, cfg: dict, seed: int, keep: dict | None = None) -> tuple[dict, float]:
    """``({"accuracy", "params"}, training seconds)`` of one model on ``data``; a torch model is also
    stored in ``keep[name]`` when ``keep`` is given."""
    x, y, xt, yt = data
    if name in ("perceptron", "svm"):
        from sklearn.linear_model import Perceptron
        from sklearn.svm import SVC

        start = time.perf_counter()
        clf = Perceptron(random_state=seed) if name == "perceptron" else SVC(**SVM)
        clf.fit(x.flatten(1).numpy(), y.numpy())
        seconds = time.perf_counter() - start
        acc = float((torch.from_numpy(clf.predict(xt.flatten(1).numpy())) == yt).float().mean())
        if name == "perceptron":
            params = clf.coef_.size + clf.intercept_.size
        else:
            params = clf.support_vectors_.size + clf.dual_coef_.size + clf.intercept_.size
        return {"accuracy": acc, "params": int(params)}, seconds
    torch.manual_seed(seed)
    model = build_torch_model(name, x.shape[-1])

    def loss_fn(m, batch):
        images, labels = batch
        out = m(images)
        logits = out[0] if isinstance(out, tuple) else out
        return F.cross_entropy(logits, labels)

    def batch_fn(step: int):
        idx = step_indices(len(y), cfg["batch"], seed, step)
        return x[idx], y[idx]

    log = fit(model, batch_fn, loss_fn, cfg["steps"], lr=LR, warmup=WARMUP, desc=name, quiet=True)
    if keep is not None:
        keep[name] = model
    with torch.no_grad():
        out = [model(xt[i : i + 1000]) for i in range(0, len(xt), 1000)]
        logits = torch.cat([o[0] if isinstance(o, tuple) else o for o in out])
    acc = float((logits.argmax(-1) == yt).float().mean())
    return {"accuracy": acc, "params": count_params(model), "final_loss": log.losses[-1]}, log.seconds


def run(profile: str, out: Path, seed: int) -> SeedRun:
    cfg = PROFILES[profile]
    metrics: dict = {"models": list(MODELS), "datasets": {}, "skipped": {}}
    timings: dict = {}
    figures: list[str] = []
    for dataset, spec in cfg["datasets"].items():
        try:
            data = load(dataset, spec, seed)
        except DatasetUnavailable as e:
            metrics["skipped"][dataset] = str(e)
            continue
        rows, trained = {}, {}
        for name in MODELS:
            rows[name], seconds = train_one(name, data, cfg, seed, keep=trained)
            timings[f"{dataset}/{name}_train_s"] = round(seconds, 2)
        figure = f"vit-rollout-{dataset}.png"
        classes = importlib.import_module(get_task(dataset).target.split(":")[0]).CLASSES
        shown = slice(0, ROLLOUT_IMAGES)
        rollout_figure(trained["vit"], data[2][shown], data[3][shown], classes, dataset, out / figure)
        figures.append(figure)
        metrics["datasets"][dataset] = {
            "n_train": len(data[1]),
            "n_test": len(data[3]),
            "epochs": cfg["steps"] * cfg["batch"] / len(data[1]),
            "rows": rows,
        }
    config = dict(cfg, lr=LR, warmup=WARMUP, optimizer="AdamW", svm=SVM)
    return SeedRun(metrics=metrics, config=config, figures=figures, timings=timings)


@torch.no_grad()
def rollout_figure(
    vit: nn.Module, images: Tensor, labels: Tensor, classes: list[str], dataset: str, path: Path
) -> None:
    """The trained ViT's attention rollout (Abnar & Zuidema, 2020) from [CLS] to the patches of a few
        test images: top row the images, bottom row the rollout over the patch grid (bright = more), with the
    object's outline in cyan."""
    logits, att = vit(images, need_weights=True)
    size, patch = vit.config.image_size, vit.config.patch_size
    grid = size // patch
    fig, axes = plt.subplots(2, len(images), figsize=(1.7 * len(images), 3.8), dpi=110, squeeze=False)
    for i in range(len(images)):
        r = attention_rollout([a[i] for a in att["encoder"]])[0, 1:]  # row [CLS], patch columns
        heat = r.reshape(grid, grid).float()  # (grid, grid): patches row-major, as PatchEmbedding flattens
        heat = heat.repeat_interleave(patch, 0).repeat_interleave(patch, 1)  # (size, size)
        pred, gold = int(logits[i].argmax()), int(labels[i])
        axes[0, i].imshow(images[i, 0], cmap="gray_r")
        color = "k" if pred == gold else "crimson"
        axes[0, i].set_title(f"{classes[gold]}\npredicted: {classes[pred]}", fontsize=7, color=color)
        axes[1, i].imshow(heat, cmap="inferno")
        axes[1, i].contour(images[i, 0], levels=[0.3], colors="cyan", linewidths=0.6)  # the object's outline
        for ax in axes[:, i]:
            ax.set(xticks=[], yticks=[])
    axes[1, 0].set_ylabel("rollout", fontsize=8)
    fig.suptitle(
        f"ViT attention rollout from [CLS] to the {grid}x{grid} patches ({dataset} test images)", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _judged(per_seed: list[dict]) -> list[str]:
    """The data sets every seed measured, in the profile's order."""
    return [d for d in per_seed[0]["datasets"] if all(d in m["datasets"] for m in per_seed)]


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Test accuracy per model and data set: mean over seeds, min–max error bars; labels: parameters."""
    names = _judged(per_seed)
    if not names:
        return []
    fig, axes = plt.subplots(
        1, len(names), figsize=(5.5 * len(names), 3.8), dpi=110, squeeze=False, layout="constrained"
    )
    for ax, dataset in zip(axes[0], names):
        rows = [m["datasets"][dataset]["rows"] for m in per_seed]
        mean, low, high = mean_min_max([[r[k]["accuracy"] for k in MODELS] for r in rows])
        err = bar_errors(mean, low, high)
        colors = ["grey", "grey", "tab:blue", "tab:green", "tab:purple", "tab:orange"]
        bars = ax.bar(MODELS, mean, yerr=err, capsize=3, color=colors)
        bottom = max(0.0, min(low) - 0.15)
        for bar, k in zip(bars, MODELS):
            params = sum(r[k]["params"] for r in rows) / len(rows)
            ax.text(bar.get_x() + bar.get_width() / 2, bottom + 0.01, f"{params:,.0f}", ha="center",
                    va="bottom", fontsize=7, rotation=90)  # fmt: skip
        d = per_seed[0]["datasets"][dataset]
        ax.set(ylim=(bottom, 1.0), ylabel="test accuracy",
               title=f"{dataset}: {d['n_train']:,} training, {d['n_test']:,} test images")  # fmt: skip
    fig.suptitle(
        f"Same images, steps and learning rate; mean over {len(per_seed)} seed(s), bars min–max\n"
        "(labels: parameters)",
        fontsize=9,
    )
    fig.savefig(out / "history.png")
    plt.close(fig)
    return ["history.png"]


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """The usual ordering, on digits (primary) and on Fashion-MNIST when it ran (secondary).

    ``perceptron-last``: ``compare`` with rule "every" (paired seeds: same split for every model),
    no margin: the claim is an ordering, and ties do not pass. ``vit-below-cnn``: ``compare`` with rule
    "spread": the CNN's mean lead must exceed the seeds' spread, since on a few hundred test images two
    models a point apart are within the noise of the split.
    """
    out: list[Criterion] = []
    for dataset in _judged(per_seed):
        acc = {k: [m["datasets"][dataset]["rows"][k]["accuracy"] for m in per_seed] for k in MODELS}
        weakest = [min(a, b, c) for a, b, c in zip(acc["svm"], acc["mlp"], acc["cnn"])]
        prefix, primary = ("", True) if dataset == "digits" else (f"{dataset}-", False)
        out += [
            compare(
                f"{prefix}perceptron-last", weakest, acc["perceptron"], primary=primary,
                en=f"{dataset}: the weakest of SVM, MLP and CNN reaches a test accuracy of {{a}}, the perceptron "
                "{b}; gap {gap} (criterion: {rule})",
                zh=f"{dataset}：SVM、MLP、CNN 中最弱者的测试准确率为 {{a}}，感知机为 {{b}}，差距 {{gap}}（判据：{{rule}}）",
            ),
            compare(
                f"{prefix}vit-below-cnn", acc["cnn"], acc["vit"], rule="spread", primary=primary,
                en=f"{dataset}: the CNN reaches {{a}}, the ViT {{b}}; gap {{gap}} (criterion: {{rule}})",
                zh=f"{dataset}：CNN 的测试准确率为 {{a}}，ViT 为 {{b}}，差距 {{gap}}（判据：{{rule}}）",
            ),
        ]  # fmt: skip
    for dataset in dict.fromkeys(d for m in per_seed for d in m["skipped"]):  # not installed: not judged
        why = next(m["skipped"][dataset] for m in per_seed if dataset in m["skipped"])
        out.append(
            not_judged(
                f"{dataset}-ordering", primary=dataset == "digits",
                en=f"{dataset} was not run ({why})".replace("{", "{{").replace("}", "}}"),
                zh=f"{dataset} 未运行（{why}）".replace("{", "{{").replace("}", "}}"),
            )
        )  # fmt: skip
    return out


EXPERIMENT = Experiment(
    name="history",
    title=Text(
        en="From perceptron to attention: six models on the same images",
        zh="从感知机到注意力：同一批图像上的六个模型",
    ),
    history=Text(
        en="Perceptron (1958), back-propagation (1986), LeNet (1998), SVMs (1995), LSTMs (1997), and attention: "
        "the Transformer (2017) and the Vision Transformer (2021).",
        zh="感知机（1958）、反向传播（1986）、LeNet（1998）、SVM（1995）、LSTM（1997），再到注意力："
        "Transformer（2017）和 Vision Transformer（2021）。",
    ),
    mechanism=Text(
        en="Each model encodes a different prior: none (perceptron, MLP), smoothness in pixel space (RBF kernel), "
        "locality and weight sharing (CNN), order (RNN over rows), and content-based mixing of patches "
        "softmax(QKᵀ/√d)V (ViT), which has to learn locality from data.",
        zh="每个模型带着不同的先验：无（感知机、MLP）、像素空间中的平滑性（RBF 核）、局部性与权重共享（CNN）、"
        "顺序（按行读取的 RNN），以及按内容混合图块的 softmax(QKᵀ/√d)V（ViT），它必须从数据中学会局部性。",
    ),
    yardstick=Text(
        en="The usual ordering on digits: linear < kernel / MLP / CNN; Dosovitskiy et al. 2021: ViTs lack the "
        "CNN's inductive biases and need more data, so on small image sets a CNN wins.",
        zh="digits 上的通常排序：线性 < 核方法 / MLP / CNN；Dosovitskiy 等 2021：ViT 缺少 CNN 的归纳偏置，"
        "需要更多数据，所以在小图像数据集上 CNN 更好。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
    data_packages=("scikit-learn", "dataset-fashion-mnist"),
)
