"""`attnlab data list / show / prepare` through the argparse wiring the top-level CLI uses."""

import argparse
import gzip
import json

import pytest

from attnlab.app import data_commands as cli
from attnlab.data.datasets import fashion_mnist


def run(argv):
    parser = argparse.ArgumentParser(prog="attnlab")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path / "cache"))


def test_list_shows_every_task_and_availability(capsys, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEFAULT_ROOT", fashion_mnist.DEFAULT_ROOT.parent / "nowhere-xyz")
    assert run(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("copy", "copy-memory", "dates", "coffee-shop", "addition-scratchpad", "reviews-zh"):
        assert name in out
    assert "apt-get install dataset-fashion-mnist" in out


def test_show_text_and_json(capsys):
    assert run(["data", "show", "coffee-shop", "-n", "2", "--lang", "en", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("#") >= 2 and "src: " in out and "I went to" in out
    assert run(["data", "show", "copy", "-n", "3", "--json", "-p", "length=[4,4]"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(len(r["src"]) == 4 and r["src"] == r["tgt"] for r in rows)


def test_show_is_deterministic(capsys):
    run(["data", "show", "stories-zh", "-n", "2", "--seed", "5"])
    first = capsys.readouterr().out
    run(["data", "show", "stories-zh", "-n", "2", "--seed", "5"])
    assert capsys.readouterr().out == first


def test_errors_have_clear_messages(capsys, monkeypatch):
    assert run(["data", "show", "nope"]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert run(["data", "show", "stories-en", "--lang", "zh"]) == 2
    assert "stories-zh" in capsys.readouterr().err
    assert run(["data", "show", "copy", "--lang", "zh"]) == 2
    assert run(["data", "show", "copy", "-p", "lenght=3"]) == 2
    assert "lenght" in capsys.readouterr().err
    monkeypatch.setattr(fashion_mnist, "DEFAULT_ROOT", fashion_mnist.DEFAULT_ROOT.parent / "nowhere-xyz")
    assert run(["data", "show", "fashion-mnist"]) == 1
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    assert run(["data", "prepare", "fashion-mnist"]) == 1
    assert run(["data", "prepare", "copy"]) == 2


def test_show_an_image(tmp_path, capsys):
    path = tmp_path / "digits.csv.gz"
    rows = [[(i + j) % 17 for j in range(64)] + [i % 10] for i in range(10)]
    path.write_bytes(gzip.compress("\n".join(",".join(map(str, r)) for r in rows).encode()))
    assert run(["data", "show", "digits", "-n", "1", "-p", f"path={path}"]) == 0
    out = capsys.readouterr().out
    assert "tgt: " in out and len(out.splitlines()) >= 10  # eight rows of ASCII art


def test_prepare_installed_digits(capsys):
    from attnlab.data import TASKS

    ok, message = TASKS["digits"].available()
    if not ok:
        pytest.skip(message)
    assert run(["data", "prepare", "digits", "--limit", "5"]) == 0
    assert "digits: train 5, valid 5, test 5" in capsys.readouterr().out
