"""The course map: every section of the course (大模型与注意力机制), in its order, with the lesson
(experiment), the API and the command that show each topic, and an explicit "not covered" where
nothing does.

Lesson numbers come from here: an experiment's lesson is the place of its *home* topic (the first
topic that lists it in ``lessons``) in the course's order, so numbers are unique, have no gaps and
follow the course. A topic may point at a lesson taught elsewhere with ``see``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Text


@dataclass(frozen=True)
class Topic:
    """One term of the course and what in attnlab shows it."""

    term: Text
    lessons: tuple[str, ...] = ()  # experiments whose home is this topic
    see: tuple[str, ...] = ()  # lessons taught under another topic that also show this one
    api: str = ""  # where it lives in the library
    command: str = ""  # a command that shows it (besides ``attnlab run LESSON``)
    missing: Text | None = None  # "not covered": what attnlab does not show, and why


@dataclass(frozen=True)
class Section:
    number: int
    title: Text
    topics: tuple[Topic, ...]


def _t(zh: str, en: str) -> Text:
    return Text(en=en, zh=zh)


COURSE = (
    Section(1, _t("大模型的发展历程", "A short history of large models"), (
        Topic(_t("从感知机到注意力（图像识别）", "From the perceptron to attention (image recognition)"),
              ("history",), api="attnlab.models.VisionTransformer"),
        Topic(_t("数据与算力：大模型的燃料", "Data and compute: the fuel of large models"), ("scaling",),
              api="attnlab.models.TransformerLM"),
        Topic(_t("提示与上下文学习", "Prompts and in-context learning"), ("induction-heads",),
              command="attnlab generate RUN --prompt TEXT"),
        Topic(_t("思维链", "Chain of thought"), ("chain-of-thought",)),
        Topic(_t("多模态", "Multimodal models"), see=("cross-modal", "history")),
        Topic(_t("泛化", "Generalisation"), see=("positions", "enc-dec-length", "symbolic-vs-neural")),
        Topic(_t("安全：记忆与隐私", "Safety: memorisation and privacy"), ("memorization",),
              missing=_t("对齐、越狱与有害内容不在本实验室范围内",
                         "alignment, jailbreaks and harmful content are outside this lab")),
        Topic(_t("可解释性", "Interpretability"), see=("interpretability",), api="attnlab.interpret"),
        Topic(_t("连接主义与符号主义", "Connectionism vs symbolism"), ("symbolic-vs-neural",)),
    )),
    Section(2, _t("注意力的直观理解：咖啡店的故事", "The attention idea: the coffee-shop story"), (
        Topic(_t("“我昨天去了一家咖啡店……回家了”：注意力找到 咖啡店 与 回家",
                 "\"Yesterday I went to a coffee shop ... went home\": attention finds the shop and home"),
              see=("interpretability",), api="attnlab.app.inspect_text",
              command='attnlab show coffee-qa "我昨天去了一家咖啡店，点了一杯拿铁……然后我从咖啡店出来，回家了。我去了几次咖啡店？"'),
    )),
    Section(3, _t("注意力机制的应用", "Applications"), (
        Topic(_t("机器翻译", "Machine translation"), ("translation",), api="attnlab.models.RNNSeq2Seq",
              command='attnlab show dates-bahdanau "Thursday, 25 March 2021"'),
        Topic(_t("文本摘要", "Text summarisation"), ("summarization",)),
        Topic(_t("问答", "Question answering"), ("qa-cloze",)),
        Topic(_t("一个模型完成多种任务", "One model for many tasks"), ("multitask",)),
        Topic(_t("图像识别", "Image recognition"), see=("history",), api="attnlab.interpret.attention_rollout"),
    )),
    Section(4, _t("注意力机制的原理", "Principles"), (
        Topic(_t("查询、键、值；softmax 权重与加权求和；softmax(QKᵀ/√d_k)V",
                 "Queries, keys, values; softmax weights and the weighted sum; softmax(QKᵀ/√d_k)V"),
              ("scaled-dot-product",), api="attnlab.attention.attend"),
        Topic(_t("对齐函数：点积、加性", "Alignment functions: dot product, additive"),
              see=("enc-dec-length",), api="attnlab.layers.make_score (dot, general, additive, concat, cosine)"),
        Topic(_t("带注意力层的编码器-解码器", "The encoder-decoder with an attention layer"),
              ("enc-dec-length",), api="attnlab.models.RNNSeq2Seq"),
        Topic(_t("软注意力与硬注意力", "Soft and hard attention"), ("hard-vs-soft",),
              api="attnlab.layers.HardAttention"),
        Topic(_t("自注意力", "Self-attention"), see=("induction-heads", "positions"),
              api="attnlab.layers.MultiHeadAttention",
              command='attnlab show coffee-qa "我昨天去了一家咖啡店……我去了哪里？" --kind encoder'),
        Topic(_t("多头注意力", "Multi-head attention"), ("multihead",), api="attnlab.layers.MultiHeadAttention"),
    )),
    Section(5, _t("注意力机制的变体", "Variants"), (
        Topic(_t("稀疏注意力", "Sparse attention"), ("lra-listops",),
              api="attnlab.attention.masks.block_sparse, strided, bigbird"),
        Topic(_t("局部注意力", "Local attention"), see=("lra-listops",),
              api="attnlab.attention.masks.sliding_window", command="attnlab bench efficient"),
        Topic(_t("相对位置注意力", "Relative-position attention"), ("positions",),
              api="attnlab.layers.ShawRelativePositions, attnlab.attention.mods.t5_bias, alibi, positions.rope"),
    )),
    Section(6, _t("注意力机制的未来方向", "Future directions"), (
        Topic(_t("自适应注意力", "Adaptive attention"), ("adaptive-span",), api="attnlab.layers.AdaptiveSpan"),
        Topic(_t("层次注意力", "Hierarchical attention"), ("hierarchical",),
              api="attnlab.models.HierarchicalAttentionNetwork"),
        Topic(_t("线性复杂度的注意力", "Linear-complexity attention"), see=("lra-listops",),
              api='attend(..., backend="linear" | "performer" | "nystrom" | "linformer")',
              command="attnlab bench efficient --memory"),
        Topic(_t("硬件高效的注意力", "Hardware-efficient attention"), api='attend(..., backend="chunked" | "flex")',
              command="attnlab bench efficient --memory",
              missing=_t("只有基准测试，没有实验课；GPU 速度未测量", "a benchmark, no lesson; GPU speed is not measured")),
        Topic(_t("压缩与量化", "Compression and quantisation"), api='attend(..., backend="int8")',
              command="attnlab bench efficient",
              missing=_t("只有量化误差与速度的基准，没有训练后量化的实验课",
                         "benchmarks of quantisation error and speed only; no lesson on quantising a trained model")),
        Topic(_t("跨模态注意力", "Cross-modal attention"), ("cross-modal",), api="attnlab.layers.CrossModalAttention"),
        Topic(_t("知识增强的注意力", "Knowledge-enhanced attention"), ("knowledge",), api="attnlab.layers.MemoryAttention"),
    )),
    Section(7, _t("注意力相对 RNN 的优势", "Advantages over RNNs"), (
        Topic(_t("长程依赖与梯度消失", "Long-range dependencies and vanishing gradients"), ("long-range",)),
        Topic(_t("并行计算", "Parallelism"), ("parallelism",)),
        Topic(_t("可解释性", "Interpretability"), ("interpretability",), api="attnlab.interpret"),
        Topic(_t("变长输入", "Variable-length input"), ("variable-length",), api="attnlab.attention.masks.padding"),
    )),
    Section(8, _t("总结", "Summary"), (
        Topic(_t("全部课程的证据：参考结果与你的运行", "The evidence for the whole course: reference results and your runs"),
              command="attnlab report && make demo"),
    )),
)  # fmt: skip


def lesson_order() -> list[str]:
    """Every lesson (experiment name) in course order: the order of their home topics."""
    order: list[str] = []
    for section in COURSE:
        for topic in section.topics:
            order += [name for name in topic.lessons if name not in order]
    return order


def lesson_number(name: str) -> int | None:
    """The lesson number (1-based, in course order) of experiment ``name``; None if the map lacks it."""
    order = lesson_order()
    return order.index(name) + 1 if name in order else None


def uncovered() -> list[tuple[Section, Topic]]:
    """The topics the map marks as not (or only partly) covered."""
    return [(s, t) for s in COURSE for t in s.topics if t.missing is not None]
