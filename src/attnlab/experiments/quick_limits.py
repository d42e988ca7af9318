"""Why some quick profiles (the demo's) are too small to show all of the effect their full profile measures.

The demo must run every lesson in a few minutes on two cores, about 5-30 s each. Where a lighter task
still shows the effect, the quick profile runs it; where the effect needs the full profile's training
(steps, data, model size), the quick run is still made, judged by the same criteria, and reported beside
the reference with the reason below. The reasons state the two profiles' sizes (from each module's
``PROFILES`` or ``SIZES``: :func:`attnlab.experiments.registry.profile_settings`) and what is not learned yet at the smaller one. The registry copies them onto
:attr:`Experiment.quick_limit`; an experiment not listed here has a quick profile sized to show its effect.
"""

from __future__ import annotations

from .base import Text

QUICK_LIMITS: dict[str, Text] = {
    "symbolic-vs-neural": Text(
        en="the learner trains 180 steps at 30 and 1,000 examples (full: 1,000 steps at six sizes up to "
        "10,000): too few to match the hand-written rules on the training formats, so 'enough data replaces "
        "the rules' fails, while the robustness comparisons (typos, extra words, French) already show.",
        zh="学习器在 30 和 1,000 个样本上各训练 180 步（full：六个数据量、最多 10,000 个样本、1,000 步）："
        "不足以在训练格式上追上手写规则，因此“足够的数据可以取代规则”不通过，而鲁棒性的比较（错字、多余的词、法语）"
        "已经能看出来。",
    ),
    "multihead": Text(
        en="a 1-layer model with 4 heads per attention layer, 12 in all, trains 800 steps (full: 2 layers, 8 "
        "heads, 48 in all, 2,500 steps). It learns the task (about 91%), so its heads are judged, but with so "
        "few heads nearly every one carries part of the task and costs more than a point when masked: the "
        "redundancy the claim is about comes with many heads.",
        zh="1 层模型，每个注意力层 4 个头、共 12 个，训练 800 步（full：2 层、8 个头、共 48 个，2,500 步）。它能学会"
        "任务（约 91%），因此会评判它的头；但头这么少时，几乎每个头都承担一部分任务，遮住任何一个都会损失 1 个百分点"
        "以上：判据所说的冗余只在头很多时才出现。",
    ),
    "adaptive-span": Text(
        en="150 steps at length 64 (full: 2,000 steps at length 128): the span penalty has not yet shrunk "
        "most heads' spans, which is what the primary criteria measure.",
        zh="在长度 64 上训练 150 步（full：长度 128、2,000 步）：跨度惩罚还没来得及让大多数头的跨度缩小，"
        "而这正是主要判据所测量的。",
    ),
    "cross-modal": Text(
        en="300 steps on 4,000 questions (full: 6,000 steps on 30,000): cross-attention already beats the "
        "question-only model, but it has not learned to find the evidence digit yet, so it does not beat "
        "mean-pooled image features and its first hop stays near chance.",
        zh="在 4,000 个问题上训练 300 步（full：30,000 个、6,000 步）：交叉注意力已经胜过只看问题的模型，"
        "但还没学会找到作为证据的数字，因此赢不了图像特征平均池化的模型，第一跳的注意力也接近随机水平。",
    ),
    "multitask": Text(
        en="20 steps per task on 1,000 examples (full: 1,000 steps on 20,000): the single-task models have "
        "learned nothing yet, so whether one shared model loses against them cannot be judged.",
        zh="每个任务在 1,000 个样本上训练 20 步（full：20,000 个、1,000 步）：单任务模型还什么都没学会，"
        "因此无法判断共享模型是否比它们差。",
    ),
    "chain-of-thought": Text(
        en="a 2-layer model trains 300 steps on 2-digit sums (full: 3 layers, 2,000 steps on up to 4-digit "
        "sums from 100,000 examples): neither model has learned to add yet, so the scratchpad cannot help.",
        zh="2 层模型在两位数加法上训练 300 步（full：3 层、2,000 步、最多四位数、100,000 个样本）："
        "两个模型都还没学会加法，草稿（scratchpad）也就帮不上忙。",
    ),
    "enc-dec-length": Text(
        en="it trains only the two models of the main comparison (no attention, Bahdanau), on dates only, 250 "
        "steps (full: 800 steps, dates and spelled-out numbers, and the three Luong scores as well), so the "
        "criteria on numbers (where the full profile's gap is narrowest) and on Luong's scores are not judged "
        "in a quick run.",
        zh="它只在日期任务上训练核心比较的两个模型（无注意力、Bahdanau），250 步（full：800 步，日期和英文数字两个任务，"
        "另有三种 Luong 打分），因此关于数字任务（full 配置在这里差距最小）和 Luong 打分的判据在 quick 运行中不作评判。",
    ),
}
