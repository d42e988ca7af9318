"""Lesson 0: from the perceptron to attention — six classic models on the same images.

The course opens with history. Rosenblatt's perceptron (1958) is a linear threshold unit
``y = sign(w·x + b)``; kernel SVMs (Cortes & Vapnik, 1995) separate classes with a maximum-margin
boundary in a feature space ``k(x, x') = exp(-γ||x - x'||²)``; multi-layer perceptrons trained with
back-propagation (Rumelhart et al., 1986) learn their features; LeNet (LeCun et al., 1998) shares
convolution weights across the image; recurrent networks read a sequence step by step,
``h_t = f(W x_t + U h_{t-1})`` (here: an LSTM, Hochreiter & Schmidhuber, 1997, reading rows); and
the Vision Transformer (Dosovitskiy et al., 2021) cuts the image into patches and lets every patch
attend to every other, ``softmax(QKᵀ/√d)V``.

All six are trained on the same split of scikit-learn's 8x8 digits (through ``attnlab.data``) and, in
the full profile, on a subset of Fashion-MNIST when it is installed. We report test accuracy,
parameter count (for the SVM: the numbers it stores — support vectors, dual coefficients, biases) and
training time.
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from attnlab.data import DatasetUnavailable, get_task  # noqa: E402
from attnlab.models import create_model  # noqa: E402

from ._fit import fit  # noqa: E402
from ._measure import count_params  # noqa: E402
from ._seq_tasks import step_indices  # noqa: E402
from .base import Experiment, Result, Text  # noqa: E402

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


def train_one(name: str, data: tuple, cfg: dict, seed: int) -> dict:
    x, y, xt, yt = data
    if name in ("perceptron", "svm"):
        from sklearn.linear_model import Perceptron
        from sklearn.svm import SVC

        start = time.perf_counter()
        clf = (
            Perceptron(random_state=seed)
            if name == "perceptron"
            else SVC(kernel="rbf", C=10.0, gamma="scale")
        )
        clf.fit(x.flatten(1).numpy(), y.numpy())
        seconds = time.perf_counter() - start
        acc = float((torch.from_numpy(clf.predict(xt.flatten(1).numpy())) == yt).float().mean())
        if name == "perceptron":
            params = clf.coef_.size + clf.intercept_.size
        else:
            params = clf.support_vectors_.size + clf.dual_coef_.size + clf.intercept_.size
        return {"accuracy": acc, "params": int(params), "train_seconds": round(seconds, 2)}
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

    lr = 1e-3 if name == "vit" else 3e-3
    log = fit(model, batch_fn, loss_fn, cfg["steps"], lr=lr, warmup=50, desc=name, quiet=True)
    with torch.no_grad():
        out = [model(xt[i : i + 1000]) for i in range(0, len(xt), 1000)]
        logits = torch.cat([o[0] if isinstance(o, tuple) else o for o in out])
    acc = float((logits.argmax(-1) == yt).float().mean())
    return {"accuracy": acc, "params": count_params(model), "train_seconds": round(log.seconds, 2)}


def run(profile: str, out: Path, seed: int) -> Result:
    cfg = PROFILES[profile]
    metrics: dict = {"models": list(MODELS), "datasets": {}, "skipped": {}}
    for dataset, spec in cfg["datasets"].items():
        try:
            data = load(dataset, spec, seed)
        except DatasetUnavailable as e:
            metrics["skipped"][dataset] = str(e)
            continue
        rows = {name: train_one(name, data, cfg, seed) for name in MODELS}
        epochs = cfg["steps"] * cfg["batch"] / len(data[1])
        metrics["datasets"][dataset] = {
            "n_train": len(data[1]),
            "n_test": len(data[3]),
            "epochs": epochs,
            "rows": rows,
        }
    names = list(metrics["datasets"])
    fig, axes = plt.subplots(
        1, len(names), figsize=(5.5 * len(names), 3.8), dpi=110, squeeze=False, layout="constrained"
    )
    for ax, dataset in zip(axes[0], names):
        rows = metrics["datasets"][dataset]["rows"]
        accs = [rows[m]["accuracy"] for m in MODELS]
        bars = ax.bar(
            MODELS, accs, color=["grey", "grey", "tab:blue", "tab:green", "tab:purple", "tab:orange"]
        )
        bottom = max(0.0, min(accs) - 0.15)
        for bar, m in zip(bars, MODELS):
            ax.text(bar.get_x() + bar.get_width() / 2, bottom + 0.01, f"{rows[m]['params']:,}\n{rows[m]['train_seconds']:.1f}s",
                    ha="center", va="bottom", fontsize=7, color="black")  # fmt: skip
        ax.set(ylim=(bottom, 1.0), ylabel="test accuracy",
               title=f"{dataset}: {metrics['datasets'][dataset]['n_train']:,} training images")  # fmt: skip
    fig.suptitle("From perceptron to ViT on the same images (labels: parameters, train time)", fontsize=10)
    fig.savefig(out / "history.png")
    plt.close(fig)
    reproduced, verdict = judge(metrics, profile)
    return Result(
        name="history", profile=profile, seed=seed, metrics=metrics, config=dict(cfg), verdict=verdict,
        figures=["history.png"], reproduced=reproduced,
    )  # fmt: skip


def judge(m: dict, profile: str) -> tuple[bool, Text]:
    """The usual ordering on digits: the perceptron is below SVM, MLP and CNN; the ViT is below the CNN."""
    en, zh, ok = [], [], True
    for dataset, d in m["datasets"].items():
        r = {k: v["accuracy"] for k, v in d["rows"].items()}
        linear_last = r["perceptron"] < min(r["svm"], r["mlp"], r["cnn"])
        vit_below = r["vit"] < r["cnn"]
        if dataset == "digits":
            ok = linear_last and vit_below
        table = ", ".join(f"{k} {v:.3f}" for k, v in r.items())
        en.append(
            f"{dataset} ({d['n_train']:,} training, {d['n_test']:,} test images, {d['epochs']:.0f} epochs for the "
            f"networks): {table}. The perceptron is {'' if linear_last else 'not '}below SVM/MLP/CNN; the ViT is "
            f"{'' if vit_below else 'not '}below the CNN ({r['vit']:.3f} vs {r['cnn']:.3f})."
        )
        zh.append(
            f"{dataset}（训练 {d['n_train']:,} 张、测试 {d['n_test']:,} 张，神经网络训练 {d['epochs']:.0f} 轮）：{table}。"
            f"感知机{'' if linear_last else '并未'}低于 SVM/MLP/CNN；ViT {'' if vit_below else '并未'}低于 CNN"
            f"（{r['vit']:.3f} 对 {r['cnn']:.3f}）。"
        )
    for dataset, why in m["skipped"].items():
        en.append(f"{dataset} was skipped: {why}")
        zh.append(f"{dataset} 未运行：{why}")
    if ok:
        en.append(
            "The usual ordering holds on digits: linear < kernel/MLP/CNN, and the ViT trails the CNN on small images (Dosovitskiy et al., 2021)."
        )
        zh.append(
            "digits 上出现了通常的排序：线性模型 < 核方法/MLP/CNN，且在小图像、小数据上 ViT 不如 CNN（Dosovitskiy 等，2021）。"
        )
    else:
        en.append(
            "The usual ordering (linear < kernel/MLP/CNN; ViT below CNN on small data) does not fully hold in this run on digits."
        )
        zh.append(
            "本次运行在 digits 上没有完全出现通常的排序（线性 < 核方法/MLP/CNN；小数据上 ViT 低于 CNN）。"
        )
    if profile == "smoke":
        en.append("The smoke profile trains for a few steps only.")
        zh.append("smoke 配置只训练几步。")
    return ok, Text(en=" ".join(en), zh="".join(zh))


EXPERIMENT = Experiment(
    name="history",
    lesson=0,
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
)
