"""Every command's mistakes end the same way: one line ``attnlab CMD: error: ...`` naming what is wrong,
exit status 2, no traceback (missing folders, corrupt checkpoints, a checkpoint of the wrong kind for
the command, unknown names, bad numbers). Only the thread-count line may come before it."""

import re
import shutil

import pytest
import torch

from attnlab.cli import main

THREAD_LINE = re.compile(r"^attnlab: \d+ torch thread")
TINY = ["--batch-size", "4", "--train-size", "20", "--eval-size", "4", "--model-arg", "d_model=16", "--quiet"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A tiny language-model run, and copies of its checkpoint with corrupt weights and config."""
    root = tmp_path_factory.mktemp("cli-errors")
    threads = torch.get_num_threads()
    run = root / "run"
    assert main(["train", "copy", "--model", "transformer-lm", "--steps", "2", "--out", str(run), *TINY]) == 0
    torch.set_num_threads(threads)
    ckpt = run / "checkpoints" / "step-00000002"
    for name, file, text in (
        ("bad-weights", "model.safetensors", "garbage"),
        ("bad-config", "config.json", "{"),
    ):
        shutil.copytree(ckpt, root / name)
        (root / name / file).write_text(text)
    return {
        "run": str(run),
        "tmp": str(root),
        "bad-weights": str(root / "bad-weights"),
        "bad-config": str(root / "bad-config"),
    }


@pytest.fixture(autouse=True)
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


CASES = [
    (["train", "nosuch", "--model", "rnn-seq2seq", "--out", "{tmp}/a"], "unknown task 'nosuch'"),
    (["train", "copy", "--model", "nosuch", "--out", "{tmp}/a"], "model: expected one of"),
    (["train", "copy", "--steps", "1"], "the following arguments are required: --model"),
    (
        ["train", "copy", "--model", "rnn-seq2seq", "--steps", "0"],
        "--steps (max_steps): expected an integer >= 1",
    ),
    (["train", "copy", "--model", "rnn-seq2seq", "--nproc", "0"], "--nproc: expected >= 1"),
    (
        ["train", "copy", "--model", "rnn-seq2seq", "--threads", "0", "--out", "{tmp}/a"],
        "--threads: expected",
    ),
    (["train", "copy", "--model", "rnn-seq2seq", "--config", "{tmp}/none.json"], "--config: "),
    (["train", "copy", "--model", "rnn-seq2seq", "--steps", "x"], "invalid int value: 'x'"),
    (["train", "copy", "--model", "transformer-lm", "--out", "{run}"], "already has checkpoints"),
    (["train", "copy", "--model", "transformer-lm", "--out", "{run}", "--nproc", "2"], "add --resume"),
    (["train", "copy", "--model", "rnn-seq2seq", "--out", "{run}", "--resume"], "holds a transformer-lm"),
    (
        ["train", "copy", "--model", "transformer-lm", "--out", "{run}", "--resume", "--lr", "0.1"],
        "other options",
    ),
    (["eval", "{tmp}/missing"], "no checkpoint here"),
    (["eval", "{bad-weights}"], "not a valid safetensors file"),
    (["eval", "{bad-config}"], "not valid JSON"),
    (["translate", "{run}", "1 2"], "is used with 'attnlab generate', not 'attnlab translate'"),
    (["classify", "{run}", "1 2"], "is used with 'attnlab generate', not 'attnlab classify'"),
    (["generate", "{tmp}/missing", "--prompt", "1"], "no checkpoint here"),
    (["generate", "{run}"], "required: --prompt"),
    (["show", "nosuch", "hi"], "unknown model 'nosuch'"),
    (["show", "coffee-qa", "hi", "--models", "{tmp}/missing"], "--models: "),
    (["show", "{bad-weights}", "hi"], "not a valid safetensors file"),
    (["show", "coffee-qa", "hi", "--max-tokens", "0"], "max_tokens: expected a positive integer"),
    (["serve", "--port", "70000"], "port: expected 0..65535"),
    (["serve", "--max-tokens", "100000"], "max-tokens: expected a whole number from 1 to 512"),
    (["serve", "--models", "{tmp}/missing"], "is not a folder"),
    (["serve", "--workers", "0"], "workers: expected >= 1"),
    (["run", "nosuch"], "invalid choice: 'nosuch'"),
    (["run", "scaled-dot-product", "--threads", "0"], "--threads: expected >= 1"),
    (["demo", "--profile", "bogus"], "invalid choice: 'bogus'"),
    (["bench", "nosuch"], "invalid choice: 'nosuch'"),
    (["bench", "serve", "--clients", "0"], "clients: expected >= 1"),
    (["data", "show", "nosuch"], "unknown task 'nosuch'"),
    (["nosuch"], "invalid choice: 'nosuch'"),
]


@pytest.mark.parametrize(
    "argv,message", CASES, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in enumerate(CASES)]
)
def test_errors_are_one_line_with_status_2(argv, message, folders, capsys, monkeypatch):
    monkeypatch.chdir(folders["tmp"])  # a default --out (runs/...) lands in the temporary folder
    argv = [a.format(**folders) for a in argv]
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's usage errors
        status = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not THREAD_LINE.match(line)]
    assert status == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and re.match(r"^attnlab( [a-z]+)*: error: ", lines[0]), err
    assert message in lines[0], err


def test_a_bad_thread_variable_is_named(monkeypatch, capsys):
    monkeypatch.setenv("ATTNLAB_THREADS", "many")
    assert main(["bench", "serve", "--clients", "1"]) == 2
    assert "ATTNLAB_THREADS: expected a whole number of threads >= 1, got 'many'" in capsys.readouterr().err
