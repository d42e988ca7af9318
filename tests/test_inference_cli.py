"""Train tiny checkpoints through the CLI, then use them: eval, translate, classify, generate."""

import json

import pytest

from attnlab.cli import main


def train(tmp_path, task, model, *extra):
    out = tmp_path / f"{task}-{model}"
    argv = [
        "train",
        task,
        "--model",
        model,
        "--steps",
        "15",
        "--batch-size",
        "8",
        "--lr",
        "0.003",
        "--train-size",
        "100",
        "--eval-size",
        "4",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    assert main(argv) == 0
    return out


def test_translate_and_eval_a_seq2seq_checkpoint(tmp_path, capsys):
    run = train(tmp_path, "reverse", "rnn-seq2seq", "--model-arg", "hidden_size=16")
    capsys.readouterr()
    assert main(["eval", str(run), "-n", "4"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["task"] == "reverse" and 0 <= metrics["accuracy"] <= 1 and metrics["loss"] > 0
    assert main(["translate", str(run), "1 2 3", "--max-len", "5"]) == 0
    text, answer = capsys.readouterr().out.rstrip("\n").split("\t")
    assert text == "1 2 3" and len(answer.split()) <= 5


def test_classify_and_generate_and_wrong_command(tmp_path, capsys):
    clf = train(tmp_path, "coffee-shop", "transformer-classifier", "--model-arg", "d_model=16")
    lm = train(tmp_path, "addition", "transformer-lm", "--model-arg", "d_model=16")
    capsys.readouterr()
    assert main(["classify", str(clf), "我昨天去了一家咖啡店。我先去了哪里？"]) == 0
    line = capsys.readouterr().out.strip().split("\t")
    assert len(line) == 3 and line[1] in line[2]
    assert main(["generate", str(lm / "best"), "--prompt", "12+34=", "--max-new", "4"]) == 0
    assert capsys.readouterr().out.startswith("12+34=")
    assert main(["translate", str(clf), "x"]) == 2
    assert "attnlab classify" in capsys.readouterr().err


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnlab eval: error:") and "no checkpoint here" in err and "\n" not in err


@pytest.mark.parametrize("command", ["translate", "classify"])
def test_text_is_required(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "somewhere"])
