"""The command line: help, list, demo, bench smoke run, and one-line errors."""

import subprocess
import sys

import pytest

from attnlab.cli import main


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "attnlab.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_help_and_list(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "reference",
        "sdpa",
        "chunked",
        "flex",
        "causal",
        "sliding_window",
        "bigbird",
        "alibi",
        "t5_bias",
        "softcap",
        "rope",
        "sinusoidal",
        "learned",
    ):
        assert name in out


def test_bad_arguments_give_one_line_not_a_traceback():
    proc = run_cli("bench", "attention", "--sizes", "abc")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "invalid int value" in proc.stderr


def test_value_errors_are_reported_in_one_line(capsys, monkeypatch):
    import attnlab.experiments

    def broken(*args, **kwargs):
        raise ValueError("profile: expected one of ('smoke', 'quick', 'full')")

    monkeypatch.setattr(attnlab.experiments, "run_experiment", broken)
    assert main(["run", "scaled-dot-product"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "attnlab run: error: profile: expected one of ('smoke', 'quick', 'full')"
    assert all(line.startswith("attnlab: ") and "torch thread" in line for line in err[:-1])  # the choice


def test_run_records_threads_and_skips_seeds_already_done(tmp_path, capsys):
    args = ["run", "scaled-dot-product", "--profile", "smoke", "--out", str(tmp_path), "--threads", "1"]
    assert main([*args, "--seed", "4", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "seeds 4, 5" in out and "Profile smoke" in out and "1 thread(s)" in out
    record = tmp_path / "scaled-dot-product" / "seed-4" / "run.json"
    stamp = record.stat().st_mtime_ns
    assert main([*args, "--seed", "4"]) == 0 and record.stat().st_mtime_ns == stamp  # skipped
    assert main([*args, "--seed", "4", "--force"]) == 0 and record.stat().st_mtime_ns != stamp
    assert main([*args, "--threads", "0"]) == 2
    assert "--threads: expected >= 1" in capsys.readouterr().err


def test_unknown_experiment_is_a_usage_error():
    proc = run_cli("run", "no-such-experiment")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_demo_smoke_writes_the_bilingual_report(tmp_path):
    proc = run_cli("demo", "--out", str(tmp_path), "--profile", "smoke")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "scaled-dot-product" / "seed-0" / "coffee-shop.png").stat().st_size > 10_000
    assert (tmp_path / "index.html").is_file() and (tmp_path / "index.zh.html").is_file()


def test_bench_attention_smoke(capsys):
    assert main(["bench", "attention", "--sizes", "64", "--long", "128", "--repeats", "1", "--memory"]) == 0
    out = capsys.readouterr().out
    assert "| 64 | fwd | torch-sdpa |" in out and "| 128 | fwd+bwd | chunked |" in out
    assert "failed" not in out


def test_bench_efficient_smoke(capsys):
    assert main(["bench", "efficient", "--sizes", "64", "96", "--repeats", "1", "--no-backward"]) == 0
    out = capsys.readouterr().out
    for case in ("local", "block-sparse", "linear", "performer", "sdpa-local"):
        assert f"| 96 | fwd | {case} |" in out
    assert "crossover" in out
