"""Lesson 14: one model that translates, summarises and answers — multi-task training with task prefixes.

T5 (Raffel et al., 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
Transformer") casts every task as text-to-text and tells the model which task it is doing with a
prefix ("translate English to German: ..."). Their Table 14 finds that multi-task training of one
model is roughly on par with (slightly below) training a separate model per task for the same number
of steps per task.

We train attnlab's Transformer encoder-decoder (``TransformerSeq2Seq``, char-level) on three generated
tasks, each source starting with a task token: ``<translate>`` dates (en/fr/de/zh -> ISO, ``dates``),
``<summarize>`` a story into who went where (``summaries``) and ``<answer>`` a coffee-shop story
question (``coffee-shop``, English). Budget matching: each single-task model trains ``steps`` steps
on batches of its task; the multi-task model trains ``3 * steps`` steps, the tasks in round-robin
(step s trains task s mod 3 on that task's batch number s // 3). So each task gets exactly the same
batches, in the same order, in both settings; the multi-task model has a third of the parameters of
the three single-task models together and the same total compute.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from attnlab.data import CharTokenizer, generate  # noqa: E402
from attnlab.data.metrics import sequence_accuracy, token_accuracy  # noqa: E402
from attnlab.models import create_model  # noqa: E402

from ._fit import fit  # noqa: E402
from ._measure import count_params  # noqa: E402
from ._seq_tasks import greedy, seq2seq_batch, seq2seq_loss, step_indices  # noqa: E402
from .base import Experiment, Result, Text  # noqa: E402

# prefix token -> (attnlab task, its parameters)
TASKS = {
    "<translate>": ("dates", {}),
    "<summarize>": ("summaries", {"n_moves": (1, 3), "n_fillers": (0, 2)}),
    "<answer>": ("coffee-shop", {"lang": "en", "n_fillers": (0, 2)}),
}
PROFILES = {
    "smoke": dict(pool=60, n_test=12, steps=2, batch=8, d_model=16, layers=1),
    "quick": dict(pool=1000, n_test=30, steps=20, batch=32, d_model=32, layers=2),
    "full": dict(pool=20000, n_test=400, steps=1000, batch=32, d_model=64, layers=2),
}


class TaskData:
    """The three tasks' examples, encoded with shared tokenizers; each source starts with its prefix."""

    def __init__(self, pool: int, n_test: int, seed: int) -> None:
        self.train, self.test = {}, {}
        for prefix, (task, params) in TASKS.items():
            self.train[prefix] = generate(task, pool, seed=seed, split="train", **params)
            self.test[prefix] = generate(task, n_test, seed=seed, split="test", **params)
        every = [e for split in (self.train, self.test) for ex in split.values() for e in ex]
        self.src_tok = CharTokenizer.fit((e.src for e in every), extra_specials=tuple(TASKS))
        self.tgt_tok = CharTokenizer.fit(e.tgt for e in every)
        self.src = {p: [self.encode_src(p, e.src) for e in ex] for p, ex in self.train.items()}
        self.tgt = {p: [self.tgt_tok.encode(e.tgt) for e in ex] for p, ex in self.train.items()}

    def encode_src(self, prefix: str, text: str) -> list[int]:
        if prefix not in TASKS:
            raise ValueError(f"prefix: expected one of {list(TASKS)}, got {prefix!r}")
        return self.src_tok.encode(prefix + text)


def task_batch(data: TaskData, tasks: list[str], step: int, batch: int, seed: int) -> tuple:
    """Round-robin task-prefix batching: step ``s`` trains ``tasks[s % n]`` on that task's batch
    number ``s // n``, so an n-task run of ``n * k`` steps gives every task the same ``k`` batches as a
    single-task run of ``k`` steps. Returns ``(prefix, (src, src_lengths, tgt_in, tgt_out))``."""
    if not tasks or any(t not in TASKS for t in tasks):
        raise ValueError(f"tasks: expected a non-empty list of {list(TASKS)}, got {tasks!r}")
    prefix = tasks[step % len(tasks)]
    task_seed = seed * 7 + list(TASKS).index(prefix)
    idx = step_indices(len(data.src[prefix]), batch, task_seed, step // len(tasks)).tolist()
    return prefix, seq2seq_batch([data.src[prefix][i] for i in idx], [data.tgt[prefix][i] for i in idx])


@torch.no_grad()
def evaluate(model, data: TaskData, prefix: str) -> dict:
    tests = data.test[prefix]
    longest = max(len(e.tgt) for e in tests) + 2
    preds = []
    for i in range(0, len(tests), 100):
        chunk = tests[i : i + 100]
        src, lengths, _, _ = seq2seq_batch(
            [data.encode_src(prefix, e.src) for e in chunk], [[0]] * len(chunk)
        )
        seqs, _ = greedy(model, src, lengths, max_len=longest)
        preds += [data.tgt_tok.decode(s) for s in seqs]
    golds = [e.tgt for e in tests]
    return {
        "exact_match": sequence_accuracy(preds, golds),
        "token_accuracy": token_accuracy(preds, golds),
        "example": [tests[0].src, preds[0], golds[0]],
    }


def train(data: TaskData, tasks: list[str], cfg: dict, seed: int):
    torch.manual_seed(seed)
    model = create_model(
        "transformer-seq2seq", vocab_size=data.src_tok.vocab_size, tgt_vocab_size=data.tgt_tok.vocab_size,
        d_model=cfg["d_model"], num_heads=4, num_layers=cfg["layers"], max_len=512,
    )  # fmt: skip
    steps = cfg["steps"] * len(tasks)
    log = fit(
        model, lambda s: task_batch(data, tasks, s, cfg["batch"], seed)[1], seq2seq_loss, steps,
        lr=2e-3, warmup=50, desc="+".join(TASKS[t][0] for t in tasks), quiet=True,
    )  # fmt: skip
    return model, log


def run(profile: str, out: Path, seed: int) -> Result:
    cfg = PROFILES[profile]
    data = TaskData(cfg["pool"], cfg["n_test"], seed)
    prefixes = list(TASKS)
    metrics: dict = {"tasks": {p: TASKS[p][0] for p in prefixes}, "single": {}, "multi": {}}
    single_params = 0
    for p in prefixes:
        model, log = train(data, [p], cfg, seed)
        single_params += count_params(model)
        res = evaluate(model, data, p)
        res.update(steps=log.steps, train_seconds=round(log.seconds, 1), params=count_params(model))
        metrics["single"][p] = res
    model, log = train(data, prefixes, cfg, seed)
    for p in prefixes:
        metrics["multi"][p] = evaluate(model, data, p)
    metrics["multi_model"] = {
        "steps": log.steps,
        "train_seconds": round(log.seconds, 1),
        "params": count_params(model),
    }
    metrics["single_models_params_total"] = single_params
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    x = torch.arange(len(prefixes)).float()
    for ax, key in zip(axes, ("exact_match", "token_accuracy")):
        ax.bar(x - 0.2, [metrics["single"][p][key] for p in prefixes], 0.4, label="3 single-task models")
        ax.bar(x + 0.2, [metrics["multi"][p][key] for p in prefixes], 0.4, label="1 multi-task model")
        ax.set_xticks(x.tolist(), [f"{p}\n{TASKS[p][0]}" for p in prefixes], fontsize=8)
        ax.set(ylim=(0, 1.05), ylabel=key.replace("_", " "), title=key.replace("_", " "))
        ax.legend(fontsize=7)
    fig.suptitle(f"Same batches per task ({cfg['steps']} steps each); params {metrics['multi_model']['params']:,} "
                 f"(multi) vs 3 x {single_params // 3:,} (single)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out / "multitask.png")
    plt.close(fig)
    reproduced, verdict = judge(metrics, profile)
    return Result(
        name="multitask", profile=profile, seed=seed, metrics=metrics,
        config={**cfg, "tasks": {p: [t, {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}]
                                 for p, (t, kw) in TASKS.items()}},
        verdict=verdict, figures=["multitask.png"], reproduced=reproduced,
    )  # fmt: skip


def judge(m: dict, profile: str) -> tuple[bool, Text]:
    """T5 Table 14: multi-task is roughly on par — here, the mean exact-match gap (single - multi) is
    at most 0.05 and no task loses more than 0.15; and the single-task models must have learned their
    tasks (mean exact match >= 0.3), else two failures would count as "on par"."""
    gaps = {p: m["single"][p]["exact_match"] - m["multi"][p]["exact_match"] for p in m["single"]}
    mean_gap = sum(gaps.values()) / len(gaps)
    single_mean = sum(r["exact_match"] for r in m["single"].values()) / len(m["single"])
    learned = single_mean >= 0.3
    ok = learned and mean_gap <= 0.05 and max(gaps.values()) <= 0.15
    rows = "; ".join(
        f"{m['tasks'][p]} {m['single'][p]['exact_match']:.2f} vs {m['multi'][p]['exact_match']:.2f}"
        for p in gaps
    )
    en = (
        f"Exact match, single-task vs multi-task: {rows} (mean gap {mean_gap:+.3f}). The multi-task model has "
        f"{m['multi_model']['params']:,} parameters against {m['single_models_params_total']:,} for the three "
        f"single-task models together, and saw the same batches of every task. "
    )
    zh = (
        f"完全匹配率，单任务 vs 多任务：{rows}（平均差 {mean_gap:+.3f}）。多任务模型有 {m['multi_model']['params']:,} 个参数，"
        f"三个单任务模型合计 {m['single_models_params_total']:,} 个，每个任务看到的批次完全相同。"
    )
    if not learned:
        en += f"The single-task models reach a mean exact match of only {single_mean:.2f} (< 0.3), too weak to judge. "
        zh += f"单任务模型的平均完全匹配率只有 {single_mean:.2f}（< 0.3），太弱，无法判断。"
    if ok:
        en += "Multi-task training is roughly on par with single-task training, as in T5 (Raffel et al., 2020, Table 14)."
        zh += "多任务训练与单任务训练大致相当，与 T5（Raffel 等，2020，表 14）一致。"
    else:
        en += (
            "This run does not reproduce T5's 'roughly on par' (criterion: mean exact-match gap <= 0.05 and "
            "no task more than 0.15 below its single-task model)."
        )
        zh += "本次运行未复现 T5 的“大致相当”（判据：平均完全匹配差 <= 0.05，且没有任务比单任务模型低 0.15 以上）。"
    if profile != "full":
        en += f" The {profile} profile trains for seconds only; the full profile's numbers judge the claim."
        zh += f"{profile} 配置只训练几秒钟；结论以 full 配置的数字为准。"
    return ok, Text(en=en, zh=zh)


EXPERIMENT = Experiment(
    name="multitask",
    lesson=14,
    title=Text(
        en="One model that translates, summarises and answers: task prefixes",
        zh="一个模型既翻译、又摘要、又问答：任务前缀",
    ),
    history=Text(
        en="McCann et al. (2018, decaNLP) posed many tasks as question answering; T5 (Raffel et al., 2020) "
        "made every task text-to-text with a task prefix and trained one model on all of them.",
        zh="McCann 等（2018，decaNLP）把多种任务都表述为问答；T5（Raffel 等，2020）用任务前缀把所有任务统一为"
        "文本到文本，并用一个模型同时训练。",
    ),
    mechanism=Text(
        en="The same encoder-decoder reads '<task> input'; the encoder's self-attention lets every position "
        "see the prefix, and the decoder's cross-attention reads what that task needs.",
        zh="同一个编码器-解码器读入“<任务> 输入”；编码器的自注意力让每个位置都能看到前缀，解码器的交叉注意力读取该任务需要的内容。",
    ),
    yardstick=Text(
        en="Raffel et al. 2020 (T5), Table 14: multi-task training with task prefixes is roughly on par with "
        "(slightly below) single-task training of the same model for the same steps per task.",
        zh="Raffel 等 2020（T5）表 14：带任务前缀的多任务训练与同一模型、每个任务同样步数的单任务训练大致相当（略低）。",
    ),
    run=run,
)
