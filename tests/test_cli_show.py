"""``attnlab show MODEL TEXT``: a PNG heatmap, top-3 keys per query that match the weights, one-line
errors with exit status 2."""

import re

import pytest
import torch

from attnlab.app.demo_models import DEMO_STEPS_ENV
from attnlab.app.inspect import inspect_text
from attnlab.app.show import SHADES, shade_grid
from attnlab.cli import main

COFFEE = "我昨天去了一家咖啡店，点了一杯拿铁，然后我从咖啡店出来，回家了"


@pytest.fixture(scope="module", autouse=True)
def demo_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTNLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv(DEMO_STEPS_ENV, "3")
        yield


def test_show_writes_png_and_top3_matches_the_weights(tmp_path, capsys):
    out = tmp_path / "coffee.png"
    args = [
        "show",
        "coffee-qa",
        COFFEE,
        "--kind",
        "encoder",
        "--layer",
        "0",
        "--head",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"heatmap: {out}" in text
    assert "encoder attention, layer 0 of 0..1, head 1" in text and "output: " in text
    weights = inspect_text("coffee-qa", COFFEE).weights("encoder", 0, 1)
    row = COFFEE.index("咖")  # the first query 咖
    line = [ln for ln in text.splitlines() if ln.startswith("  咖 ->")][0]
    printed = [float(w) for w in re.findall(r" (\d\.\d\d)", line)]
    top = weights[row].topk(3).values.tolist()
    assert printed == pytest.approx(top, abs=0.006)
    grid = text.split("shades (darker = more weight):\n")[1].split("\nheatmap:")[0].splitlines()
    assert len(grid) == 1 + len(COFFEE) and "咖啡店" in grid[0]


def test_show_defaults_to_the_map_the_answer_is_read_through(tmp_path, capsys):
    """For a classifier with attention pooling, the answer is computed from sum_t alpha_t h_t: that
    distribution (one row over the story's tokens, summing to 1) is what ``show`` draws by default."""
    assert main(["show", "coffee-qa", COFFEE + "……我去了几次咖啡店？", "--out", str(tmp_path / "p.png")]) == 0
    text = capsys.readouterr().out
    assert "coffee-qa: pooling attention, layer 0 of 0..0" in text
    tokens = inspect_text("coffee-qa", COFFEE + "……").axes["pooling"][1]
    assert "……" in tokens and len(tokens) == len(COFFEE) + 1  # the ellipsis is one token


def test_cross_attention_of_the_date_translator(tmp_path, capsys):
    assert (
        main(["show", "dates-bahdanau", "3 May 2021", "--kind", "cross", "--out", str(tmp_path / "d.png")])
        == 0
    )
    text = capsys.readouterr().out
    assert "dates-bahdanau: cross attention, layer 0 of 0..0, mean of 1 heads" in text


@pytest.mark.parametrize(
    "argv,message",
    [
        (["show", "nope", "x"], "unknown model 'nope'; known models: coffee-qa"),
        (
            ["show", "coffee-qa", "咖啡", "--kind", "encoder", "--layer", "7"],
            "layer: expected an index in 0..1",
        ),
        (["show", "coffee-qa", "咖啡", "--kind", "cross"], "kind: expected one of ['encoder', 'pooling']"),
        (["show", "coffee-qa", " "], "text: expected some text"),
        (["show", "coffee-qa", "咖啡", "--out", "x.jpg"], "out: expected a .png"),
        (["show", "coffee-qa", "ab\udcff"], "not valid UTF-8"),
    ],
)
def test_errors_are_one_line_with_exit_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnlab show: error:") and message in err and err.count("\n") == 1


def test_shade_grid_marks_the_largest_weight_darkest():
    w = torch.tensor([[0.1, 0.9], [0.5, 0.5]])
    head, first, second = shade_grid(w, ["咖", "x"], ["咖", "啡"])
    assert head.endswith("咖啡")  # wide keys: two columns per cell
    assert first.endswith(SHADES[0] * 2 + SHADES[-1] * 2)
    assert second.endswith(SHADES[2] * 4)  # 0.5 / 0.9 of the darkest: level round(2.2) = 2
