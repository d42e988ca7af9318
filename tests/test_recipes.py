"""Recipes connect tasks to model families: batches are deterministic, every family learns, and a
saved recipe rebuilds the same tokenizer and labels."""

import pytest
import torch

from attnlab.app.recipes import Recipe, as_text
from attnlab.experiments._fit import fit


@pytest.mark.parametrize(
    "task,model",
    [
        ("reverse", "transformer-seq2seq"),
        ("dates", "rnn-seq2seq"),
        ("coffee-shop", "transformer-classifier"),
        ("addition", "transformer-lm"),
    ],
)
def test_each_family_learns_and_round_trips(task, model, tmp_path):
    recipe = Recipe.create(task, model, train_size=300)
    first, again = recipe.batch(5, 8), recipe.batch(5, 8)
    assert all(torch.equal(first[key], again[key]) for key in first)  # deterministic in the step
    torch.manual_seed(0)
    m = (
        recipe.build_model(d_model=32)
        if model.startswith("transformer")
        else recipe.build_model(hidden_size=32)
    )
    log = fit(m, lambda s: recipe.batch(s, 16), lambda m, b: recipe.loss(m, b)[0], steps=120, quiet=True)
    assert sum(log.losses[-5:]) / 5 < 0.85 * sum(log.losses[:5]) / 5
    metrics = recipe.evaluate(m, n=10)
    assert 0 <= metrics["accuracy"] <= 1 and metrics["loss"] > 0
    assert isinstance(recipe.predict(m, [as_text(recipe.examples("valid", 1)[0].src)])[0], str)
    recipe.save(tmp_path)
    again = Recipe.load(tmp_path)
    assert (
        again.tokenizer == recipe.tokenizer
        and again.labels == recipe.labels
        and again.max_len == recipe.max_len
    )


def test_bad_arguments_and_files():
    with pytest.raises(ValueError, match="model"):
        Recipe.create("copy", "gpt-5")
    with pytest.raises(ValueError, match="tokenizer"):
        Recipe.create("copy", "transformer-lm", tokenizer="bpe")


def test_missing_recipe_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="missing or unreadable recipe"):
        Recipe.load(tmp_path)
