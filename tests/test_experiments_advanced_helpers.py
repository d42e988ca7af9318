"""Helpers of the lesson 0 / 14 / 15 experiments: induction and previous-token scores on hand-built
attention patterns, repeated-token data, the summarisation task's answers recomputed from the text,
task-prefix batching, LM batches for the scratchpad, the attention-only LM flag and the history models."""

import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnlab.data import generate
from attnlab.data.tasks.stories import LEXICON as STORIES
from attnlab.experiments import chain_of_thought as cot
from attnlab.experiments import history, multitask
from attnlab.experiments import induction_heads as ih
from attnlab.models import create_model
from attnlab.models.config import config_from_dict, config_to_dict


def _distinct_repeat(batch: int, seg: int, extra: int, seed: int) -> torch.Tensor:
    """Rows ``A A R`` with ``A`` of ``seg`` distinct tokens and ``R`` of ``extra`` fresh distinct tokens."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(batch):
        perm = torch.randperm(seg + extra + 5, generator=g)
        a, rest = perm[:seg], perm[seg : seg + extra]
        rows.append(torch.cat([a, a, rest]))
    return torch.stack(rows)


@given(seg=st.integers(2, 12), extra=st.integers(0, 5), heads=st.integers(1, 3), seed=st.integers(0, 99))
def test_perfect_induction_head_scores_one_and_uniform_scores_one_over_l(seg, extra, heads, seed):
    tokens = _distinct_repeat(2, seg, extra, seed)
    B, L = tokens.shape
    perfect = torch.zeros(B, heads, L, L)
    for t in range(L):  # built from the layout, not from the scorer: A[i] at t -> A[i+1] at t - seg + 1
        perfect[:, :, t, t - seg + 1 if seg <= t < 2 * seg else 0] = 1.0
    assert torch.allclose(ih.induction_score(perfect, tokens), torch.ones(heads))
    uniform = torch.full((B, heads, L, L), 1.0 / L)
    assert torch.allclose(ih.induction_score(uniform, tokens), torch.full((heads,), 1.0 / L))
    causal = torch.tril(torch.ones(L, L))
    causal = (causal / causal.sum(-1, keepdim=True)).expand(B, heads, L, L)
    expected = sum(1.0 / (t + 1) for t in range(seg, 2 * seg)) / seg  # only the repeat has earlier twins
    assert torch.allclose(ih.induction_score(causal, tokens), torch.full((heads,), expected))


@given(tokens=st.lists(st.integers(0, 3), min_size=2, max_size=20))
def test_induction_targets_match_a_plain_loop(tokens):
    x = torch.tensor([tokens])
    targets, valid = ih.induction_targets(x)
    for t in range(len(tokens)):
        earlier = [j for j in range(t) if tokens[j] == tokens[t]]
        assert bool(valid[0, t]) == bool(earlier)
        if earlier:
            assert int(targets[0, t]) == earlier[-1] + 1


def test_previous_token_score():
    L, H = 9, 2
    prev = torch.zeros(1, H, L, L)
    prev[0, :, 0, 0] = 1.0
    for t in range(1, L):
        prev[0, :, t, t - 1] = 1.0
    assert torch.allclose(ih.previous_token_score(prev), torch.ones(H))
    assert torch.allclose(ih.previous_token_score(torch.eye(L).expand(1, H, L, L)), torch.zeros(H))
    causal = torch.tril(torch.ones(L, L))
    causal = (causal / causal.sum(-1, keepdim=True)).expand(1, H, L, L)
    expected = sum(1.0 / (t + 1) for t in range(1, L)) / (L - 1)
    assert torch.allclose(ih.previous_token_score(causal), torch.full((H,), expected))
    with pytest.raises(ValueError, match="weights"):
        ih.previous_token_score(torch.ones(2, 2))
    with pytest.raises(ValueError, match="weights"):
        ih.induction_score(torch.ones(1, 1, 3, 3), torch.zeros(1, 4, dtype=torch.long))


@given(length=st.integers(4, 40), seed=st.integers(0, 999))
def test_repeated_tokens_copy_their_first_segment(length, seed):
    tokens, segs = ih.repeated_tokens(6, length, 50, 2, torch.Generator().manual_seed(seed))
    assert tokens.shape == (6, length) and int(tokens.max()) < 50
    for row, s in zip(tokens, segs.tolist()):
        assert 2 <= s <= length // 2
        assert torch.equal(row[s : 2 * s], row[:s])
    with pytest.raises(ValueError, match="min_seg"):
        ih.repeated_tokens(1, 8, 5, 5, torch.Generator())


# -- the summaries task: answers recomputed from the text --------------------------------------------
def _moves_en(text: str) -> list[tuple[str, str]]:
    verbs = "|".join(re.escape(t.split()[1]) for t in STORIES["en"]["move"])
    return re.findall(rf"(\w+) (?:{verbs}) to the (\w+)\.", text)


def _moves_zh(text: str) -> list[tuple[str, str]]:
    people = "|".join(STORIES["zh"]["people"])
    places = "|".join(STORIES["zh"]["places"])
    return re.findall(rf"({people})(?:去了|走进了|跑到了)({places})。", text)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_summaries_answers_recomputed_from_the_story(lang):
    examples = generate("summaries", 60, seed=3, lang=lang, n_moves=(1, 5), n_fillers=(0, 4))
    for e in examples:
        moves = _moves_en(e.src) if lang == "en" else _moves_zh(e.src)
        assert moves == [tuple(m) for m in e.meta["moves"]]
        expected = (", " if lang == "en" else "，").join(
            (f"{p} {pl}" if lang == "en" else f"{p}{pl}") for p, pl in moves
        )
        assert e.tgt == expected
        assert len(e.meta["sentences"]) == len(moves) + e.meta["n_fillers"]
    assert {e.meta["n_fillers"] for e in examples} >= {0, 4}
    with pytest.raises(ValueError, match="n_moves"):
        generate("summaries", 1, n_moves=(1, 9))


# -- task-prefix batching -----------------------------------------------------------------------------
def test_round_robin_task_batches_equal_single_task_batches():
    data = multitask.TaskData(pool=40, n_test=4, seed=0)
    prefixes = list(multitask.TASKS)
    k = 4
    seen = {p: [] for p in prefixes}
    for step in range(len(prefixes) * k):
        prefix, batch = multitask.task_batch(data, prefixes, step, 5, seed=0)
        seen[prefix].append(batch)
        assert (batch[0][:, 0] == data.src_tok.index[prefix]).all()  # every source starts with its task
    for p in prefixes:
        assert len(seen[p]) == k
        for step in range(k):
            _, single = multitask.task_batch(data, [p], step, 5, seed=0)
            assert all(torch.equal(a, b) for a, b in zip(single, seen[p][step]))
    with pytest.raises(ValueError, match="tasks"):
        multitask.task_batch(data, ["<nope>"], 0, 5, seed=0)


# -- chain of thought ---------------------------------------------------------------------------------
def test_lm_batch_learns_only_the_target_and_answer_of_reads_the_sum():
    inputs, labels = cot.lm_batch([[5, 6, 7], [5, 6]], [[8, 9], [8, 9, 10, 11]], eos_id=3)
    assert inputs.tolist() == [[5, 6, 7, 8, 9, 3], [5, 6, 8, 9, 10, 11]]
    assert labels.tolist() == [[0, 0, 8, 9, 3, 0], [0, 8, 9, 10, 11, 3]]
    for e in generate("addition-scratchpad", 30, seed=2, digits=(1, 6)):
        assert cot.answer_of(e.tgt) == str(e.meta["a"] + e.meta["b"])
    assert cot.answer_of("123") == "123"


# -- the attention-only LM flag -------------------------------------------------------------------------
def test_attention_only_lm_has_no_feed_forward_and_old_configs_still_load():
    full = create_model("transformer-lm", vocab_size=11, d_model=16, num_heads=2, num_layers=2)
    bare = create_model(
        "transformer-lm", vocab_size=11, d_model=16, num_heads=2, num_layers=2, attention_only=True
    )
    assert not any(".ff." in n or "ff_res" in n for n, _ in bare.named_parameters())
    assert any(".ff." in n for n, _ in full.named_parameters())
    x = torch.randint(0, 11, (2, 7))
    logits, att = bare(x, need_weights=True)
    assert logits.shape == (2, 7, 11) and len(att["decoder"]) == 2
    # Without the feed-forward sublayer, a layer's output is its input plus attention only.
    layer = bare.stack.layers[0]
    h = torch.randn(1, 4, 16)
    expected = h + layer.self_attn(layer.self_res.norm(h), mask=None)[0]
    out, _ = layer(h)
    assert torch.allclose(out, expected, atol=1e-6)
    old = config_to_dict(full.config)
    del old["attention_only"]  # a config.json written before the flag existed
    assert config_from_dict(old).attention_only is False
    with pytest.raises(ValueError, match="attention_only"):
        create_model("transformer-seq2seq", attention_only=True)


# -- history ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [8, 28])
def test_history_models_classify_images_of_both_sizes(size):
    images = torch.rand(3, 1, size, size)
    for name in ("mlp", "cnn", "rnn", "vit"):
        out = history.build_torch_model(name, size)(images)
        logits = out[0] if isinstance(out, tuple) else out
        assert logits.shape == (3, 10)
    with pytest.raises(ValueError, match="size"):
        history.LeNet(10)
    with pytest.raises(ValueError, match="name"):
        history.build_torch_model("svm", 8)
