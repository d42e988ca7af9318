"""Coffee-shop story QA for the interpretability experiment: train a small attention-pooling classifier
and ask whether its attention lands on the answer's evidence (咖啡店 ... 回家).

The model is :class:`attnlab.models.TransformerClassifier` with HAN attention pooling (Yang et al.,
2016): the answer is read from ``s = Σ_t α_t h_t``, so ``α`` is the one distribution over input tokens
that the decision goes through. We also look at the attention each token *receives* in the last
encoder layer (averaged over heads and queries). "Hit@k" is the share of stories where at least one of
the k most attended tokens lies in the target span; its chance rate, for k tokens drawn uniformly from
the n real tokens of a story with t target tokens, is ``1 - C(n - t, k) / C(n, k)``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from attnlab.data import CharTokenizer, WordTokenizer, generate, pad_batch, span_mask
from attnlab.data.metrics import classification_accuracy
from attnlab.figures import plt, seed_band
from attnlab.interpret.fonts import cjk_font_family
from attnlab.models import create_model

from ._fit import fit

QUESTIONS = ("first", "now")
QUESTION_TEXT = {"now": "我现在在哪里？", "first": "我先去了哪里？"}
TOPK = (1, 3, 5)


def target_spans(meta: dict) -> list[list[int]]:
    """What attention should find: both mentions of the shop for "where did I go first", the closing
    phrase (回家 / went home) for "where am I now"."""
    keys = meta["key_spans"]
    return [keys["place"], keys["place_again"]] if meta["qtype"] == "first" else [keys["final"]]


class StoryData:
    """Tokenised stories of one language: ids, labels, token offsets and target-token masks."""

    def __init__(self, examples, tok, labels: dict[str, int]) -> None:
        self.examples = examples
        self.offsets = [tok.tokenize_with_offsets(e.src) for e in examples]
        self.ids = [tok.encode(e.src) for e in examples]
        self.labels = torch.tensor([labels[e.tgt] for e in examples])
        self.targets = [span_mask(off, target_spans(e.meta)) for off, e in zip(self.offsets, examples)]

    def batch(self, index: list[int]):
        b = pad_batch([self.ids[i] for i in index], pad_id=0)
        return b.ids, b.lengths, self.labels[index]


def train_story_model(lang: str, cfg: dict, seed: int, quiet: bool):
    """Train one classifier on ``cfg["train"]`` generated stories; returns (model, tokenizer, labels, log)."""
    train = generate("coffee-shop", cfg["train"], seed=seed, split="train", lang=lang, questions=QUESTIONS)
    tok_cls = CharTokenizer if lang == "zh" else WordTokenizer
    tok = tok_cls.fit(e.src for e in train)
    labels = {a: i for i, a in enumerate(sorted({e.tgt for e in train}))}
    data = StoryData(train, tok, labels)
    max_len = max(len(x) for x in data.ids) + 32  # room for the course's longer sentence
    torch.manual_seed(seed)
    model = create_model(
        "transformer-classifier",
        vocab_size=tok.vocab_size,
        d_model=cfg["d_model"],
        num_heads=4,
        num_layers=cfg["layers"],
        max_len=max_len,
        num_classes=len(labels),
        pooling="attention",
        position="sinusoidal",
    )

    def batch_fn(step: int):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        return data.batch(torch.randint(0, len(train), (cfg["batch"],), generator=gen).tolist())

    def loss_fn(m, batch):
        ids, lengths, y = batch
        logits, _ = m(ids, lengths)
        return F.cross_entropy(logits, y)

    log = fit(
        model, batch_fn, loss_fn, cfg["steps"], lr=2e-3, warmup=max(1, cfg["steps"] // 10),
        desc=f"coffee-shop {lang}", quiet=quiet,
    )  # fmt: skip
    return model, tok, labels, log


def chance_hit(n: int, t: int, k: int) -> float:
    """P(at least one of k uniformly drawn tokens out of n is among the t target tokens)."""
    k = min(k, n)
    return 1.0 - math.comb(n - t, k) / math.comb(n, k)


@torch.no_grad()
def probe_attention(model, tok, labels: dict[str, int], lang: str, n_test: int, seed: int) -> dict:
    """QA accuracy and hit@k of the pooling / last-layer attention against the target spans."""
    test = generate("coffee-shop", n_test, seed=seed, split="test", lang=lang, questions=QUESTIONS)
    test = [e for e in test if e.tgt in labels]
    data = StoryData(test, tok, labels)
    hits = {p: {k: [] for k in TOPK} for p in ("pooling", "last_layer")}
    chance = {k: [] for k in TOPK}
    mass, share, preds = [], [], []
    for start in range(0, len(test), 64):
        index = list(range(start, min(start + 64, len(test))))
        ids, lengths, y = data.batch(index)
        logits, att = model(ids, lengths, need_weights=True)
        preds.append(logits.argmax(-1))
        for row, i in enumerate(index):
            n = int(lengths[row])
            target = data.targets[i][:n]
            t = int(target.sum())
            # attention each real token receives in the last layer, averaged over heads and real queries
            received = att["encoder"][-1][row, :, :n, :n].mean(dim=(0, 1))  # (n,)
            probes = {"pooling": att["pooling"][row, :n], "last_layer": received}
            for name, w in probes.items():
                order = w.argsort(descending=True)
                for k in TOPK:
                    hits[name][k].append(bool(target[order[:k]].any()))
            for k in TOPK:
                chance[k].append(chance_hit(n, t, k))
            mass.append(float(att["pooling"][row, :n][target].sum()))
            share.append(t / n)
    mean = lambda xs: sum(xs) / max(len(xs), 1)  # noqa: E731
    qtypes = [e.meta["qtype"] for e in test]
    pick = lambda xs, q: [x for x, qt in zip(xs, qtypes) if qt == q]  # noqa: E731
    by_question = {
        q: {
            "n": qtypes.count(q),
            "pooling_hit_at_k": {str(k): mean(pick(hits["pooling"][k], q)) for k in TOPK},
            "last_layer_hit_at_k": {str(k): mean(pick(hits["last_layer"][k], q)) for k in TOPK},
            "chance_at_k": {str(k): mean(pick(chance[k], q)) for k in TOPK},
        }
        for q in QUESTIONS
    }
    return {
        "n_test": len(test),
        "qa_accuracy": classification_accuracy(torch.cat(preds), data.labels),
        "hit_at_k": {p: {str(k): mean(v) for k, v in d.items()} for p, d in hits.items()},
        "chance_at_k": {str(k): mean(v) for k, v in chance.items()},
        "pooling_mass_on_target": mean(mass),
        "target_share_of_tokens": mean(share),
        "by_question": by_question,
    }


@torch.no_grad()
def read_sentence(model, tok, labels: dict[str, int], text: str) -> dict:
    """Run one text through the model: its answer, token strings, pooling α and last-layer attention."""
    ids = torch.tensor([tok.encode(text)])
    logits, att = model(ids, torch.tensor([ids.shape[1]]), need_weights=True)
    names = {i: a for a, i in labels.items()}
    return {
        "answer": names[int(logits.argmax(-1))],
        "tokens": [t for t, _, _ in tok.tokenize_with_offsets(text)],
        "offsets": [(s, e) for _, s, e in tok.tokenize_with_offsets(text)],
        "pooling": att["pooling"][0],
        "last_layer": att["encoder"][-1][0].mean(dim=0),  # (L, L), averaged over heads
    }


def plot_topk(per_seed: list[dict], path: Path) -> None:
    """Hit@k against k per language and question (pooling α, last layer, chance): mean and min–max over
    seeds. ``per_seed`` holds one ``{lang: probe_attention(...)}`` per seed."""
    family = cjk_font_family()
    rc = {"font.family": [family, "DejaVu Sans"]} if family else {}
    langs, ks = list(per_seed[0]), [str(k) for k in TOPK]
    lines = (("pooling_hit_at_k", "o-", "attention pooling α"), ("last_layer_hit_at_k", "s--", "last layer (received)"),
             ("chance_at_k", ":", "chance"))  # fmt: skip
    with plt.rc_context(rc):
        fig, axes = plt.subplots(
            len(langs),
            len(QUESTIONS),
            figsize=(4.4 * len(QUESTIONS), 3.0 * len(langs)),
            dpi=110,
            squeeze=False,
        )
        for row, lang in zip(axes, langs):
            runs = [story[lang] for story in per_seed]
            acc = sum(m["qa_accuracy"] for m in runs) / len(runs)
            for ax, q in zip(row, QUESTIONS):
                for key, style, label in lines:
                    series = [[m["by_question"][q][key][k] for k in ks] for m in runs]
                    seed_band(
                        ax,
                        TOPK,
                        series,
                        style,
                        label=label,
                        **({"color": "grey"} if key == "chance_at_k" else {}),
                    )
                target = "the shop" if q == "first" else "the closing phrase"
                ax.set_xticks(list(TOPK), labels=[f"top-{k}" for k in ks])
                ax.set(
                    ylim=(0, 1.05), ylabel="stories with a target token", title=f"{lang}, '{q}' -> {target}"
                )
                ax.legend(fontsize=7, loc="best")
            row[0].annotate(f"QA accuracy {acc:.2f}", (0.02, 0.92), xycoords="axes fraction", fontsize=8)
        seeds = f"mean and min–max over {len(per_seed)} seeds" if len(per_seed) > 1 else "one seed"
        fig.suptitle(
            f"Is the evidence (咖啡店 ... 回家) among the k most attended tokens? ({seeds})", fontsize=10
        )
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def plot_pooling(reads: dict, path: Path) -> None:
    family = cjk_font_family()
    rc = {"font.family": [family, "DejaVu Sans"]} if family else {}
    with plt.rc_context(rc):
        fig, axes = plt.subplots(len(reads), 1, figsize=(11, 2.3 * len(reads)), dpi=110, squeeze=False)
        for ax, (q, r) in zip(axes[:, 0], reads.items()):
            alpha = r["pooling"].tolist()
            colors = ["crimson" if h else "steelblue" for h in r["highlight"]]
            ax.bar(range(len(alpha)), alpha, color=colors)
            ax.set_xticks(range(len(alpha)), labels=r["tokens"], fontsize=8)
            ax.set_title(f"{QUESTION_TEXT[q]}  model answer: {r['answer']}  (red: 咖啡店 / 回家)", fontsize=9)
            ax.set_ylabel("pooling α")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
