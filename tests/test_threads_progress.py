"""The thread choice (precedence, the busy-machine rule, the probe), progress as log lines with rate and
ETA, the slowdown warning, the trainer's record of its threads, and torchrun's output cut to one line."""

import io
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from attnlab import progress as P
from attnlab import threads as T
from attnlab.training import FunctionTask, TrainConfig, Trainer, classification_loss, read_metrics
from attnlab.training.distributed import _relay_errors


def no_probe(n):
    raise AssertionError("the probe must not run")


@pytest.fixture(autouse=True)
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_precedence_flag_variable_fixed_omp_automatic(monkeypatch):
    env = {"ATTNLAB_THREADS": "3", "OMP_NUM_THREADS": "5"}
    assert T.choose(2, 1, env).threads == 2 and T.choose(2, 1, env).source == "--threads"
    assert T.choose(None, 1, env).threads == 3 and T.choose(None, 1, env).source == "ATTNLAB_THREADS"
    assert T.choose(None, 1, {"OMP_NUM_THREADS": "5"}).source == "fixed"  # full profiles stay at 1
    assert T.choose(None, None, {"OMP_NUM_THREADS": "5"}).threads == 5
    monkeypatch.setattr(T, "busy_cpus", lambda: 0.0)
    monkeypatch.setattr(
        T, "automatic", lambda cpus, load, busy: T.ThreadChoice(7, "automatic", cpus, busy=busy)
    )
    assert T.choose(None, None, {}).threads == 7
    for bad, name in ((("0", None), "--threads"), ((None, None), "ATTNLAB_THREADS")):
        with pytest.raises(ValueError, match=f"{name}: expected a whole number of threads >= 1"):
            T.choose(bad[0], None, {"ATTNLAB_THREADS": "lots"})


def test_a_busy_machine_gets_one_thread_and_the_probe_confirms_the_rest():
    busy = T.automatic(2, 1.2, probe=no_probe)  # one core already taken on two: 1 thread, no probe
    assert busy.threads == 1 and "the machine is busy" in busy.line()
    assert T.automatic(8, 3.4, probe=lambda n: 2.5).threads == 5  # the free CPUs
    idle = T.automatic(8, 0.1, probe=lambda n: 3.0)
    assert idle.threads == 8 and idle.record() == {
        "threads": 8, "source": "automatic", "cpus": 8, "load_average": 0.1, "busy_cpus": None,
    }  # fmt: skip
    contended = T.automatic(8, 0.1, probe=lambda n: 1.1)  # more threads were not faster: 1
    assert contended.threads == 1 and "only 1.10x faster" in contended.reason
    assert T.automatic(1, None, probe=no_probe).threads == 1
    assert T.probe_speedup(1) > 0


def test_cpus_busy_now_count_and_the_lagging_load_average_does_not():
    # a job that ended a moment ago still shows in the 1-minute load average, not in the CPU time now
    after_a_job = T.automatic(2, 0.84, probe=lambda n: 1.9, busy=0.04)
    assert after_a_job.threads == 2 and "0.04 busy now" in after_a_job.reason
    assert after_a_job.record()["busy_cpus"] == 0.04 and after_a_job.record()["load_average"] == 0.84
    neighbour = T.automatic(2, 0.1, probe=no_probe, busy=0.97)  # a job just started: 1 thread, no probe
    assert neighbour.threads == 1 and "the machine is busy" in neighbour.line()
    if T.cpu_jiffies() is None:
        assert T.busy_cpus(0.05) is None  # no /proc/stat: the load average decides


def test_configure_applies_and_prints_one_line(capsys):
    choice = T.configure(1)
    assert torch.get_num_threads() == 1 and choice.source == "--threads"
    assert capsys.readouterr().err == "attnlab: 1 torch thread (--threads)\n"


def test_log_lines_with_rate_and_eta():
    out = io.StringIO()
    bar = P.Progress(total=4, desc="train", stream=out, interval=0.0)
    bar.set_postfix({"loss": "0.5"})
    for _ in range(4):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("train: 1/4 steps (25%), ") and "steps/s, ETA " in lines[0]
    assert lines[0].endswith("; loss 0.5") and lines[-1].startswith("train: 4/4 steps in ")
    quiet = io.StringIO()
    for _ in P.Progress(range(3), stream=quiet, interval=0.0, quiet=True):
        pass
    assert quiet.getvalue() == ""


def test_a_sharp_slowdown_warns_once(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(P.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(P, "_warned", False)
    out = io.StringIO()
    bar = P.Progress(total=1000, desc="train", stream=out, interval=1e9)

    def steps(n, seconds_each):
        for _ in range(n):
            clock[0] += seconds_each
            bar.update(1)

    steps(30, 0.1)  # the start-up probe: 10 steps/s
    with bar.paused():
        clock[0] += 60.0  # an evaluation: not a slowdown
    steps(40, 0.2)  # 5 steps/s: slower, but not below a third
    assert "warning" not in out.getvalue()
    steps(10, 0.5)  # 2 steps/s
    steps(10, 0.5)
    warnings = [line for line in out.getvalue().splitlines() if "warning" in line]
    assert len(warnings) == 1 and "steps/s, under a third of the 10 steps/s" in warnings[0]
    assert "--threads 1" in warnings[0]


def _slow_run(bar, clock):
    for seconds_each, n in ((0.1, 30), (0.5, 20)):  # 10 steps/s at the start, then 2 steps/s
        for _ in range(n):
            clock[0] += seconds_each
            bar.update(1)


@pytest.mark.parametrize("quiet", [False, True])
def test_after_a_sharp_slowdown_adaptive_automatic_threads_continue_with_the_free_cpus(monkeypatch, quiet):
    clock = [0.0]
    monkeypatch.setattr(P.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(T, "choose", lambda requested, default: T.ThreadChoice(2, "automatic", 2))
    monkeypatch.setattr(T, "busy_cpus", lambda: 1.0)  # measured again at the slowdown: a neighbour's CPU
    T.configure(quiet=True, adaptive=True)
    P.on_slowdown(T.yield_cpus)  # as attnlab train does
    assert torch.get_num_threads() == 2
    out = io.StringIO()
    _slow_run(P.Progress(total=1000, desc="train", stream=out, interval=1e9, quiet=quiet), clock)
    assert torch.get_num_threads() == 1
    text = out.getvalue()
    assert text == "" if quiet else "so it continues with 1" in text
    assert T.yield_cpus() == ""  # once only
    if quiet:  # a quiet loop used the hook, not the one visible warning of the process
        later = io.StringIO()
        _slow_run(P.Progress(total=1000, desc="eval", stream=later, interval=1e9), clock)
        assert "warning: eval ran at" in later.getvalue()


def test_a_slowdown_with_no_busy_neighbour_keeps_the_threads(monkeypatch):
    monkeypatch.setattr(T, "choose", lambda requested, default: T.ThreadChoice(2, "automatic", 2))
    monkeypatch.setattr(T, "busy_cpus", lambda: 0.1)  # the slowdown had another cause
    T.configure(quiet=True, adaptive=True)
    assert T.yield_cpus() == "" and torch.get_num_threads() == 2


def test_busy_cpus_sees_another_process_and_not_this_one():
    import threading

    if T.cpu_jiffies() is None:
        pytest.skip("no /proc/stat: the load average decides")
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()  # this process keeps a CPU busy: not counted
    try:
        assert T.busy_cpus(0.4) < 0.5
    finally:
        stop.set()
        spinner.join()
    other = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        assert T.busy_cpus(0.4) > 0.6  # another process keeps one CPU busy
    finally:
        other.kill()
        other.wait()


def test_measured_or_fixed_threads_never_change_on_a_slowdown(monkeypatch):
    monkeypatch.setattr(T, "choose", lambda requested, default: T.ThreadChoice(2, "--threads", 2))
    T.configure(2, quiet=True, adaptive=True)  # chosen by the user: kept
    assert T.yield_cpus() == "" and torch.get_num_threads() == 2
    monkeypatch.setattr(T, "choose", lambda requested, default: T.ThreadChoice(2, "automatic", 2))
    T.configure(quiet=True)  # automatic, but not adaptive (e.g. a benchmark): kept
    assert T.yield_cpus() == "" and torch.get_num_threads() == 2


def test_the_trainer_logs_its_threads(tmp_path):
    def batch(step, n):
        x = torch.randn(n, 4, generator=torch.Generator().manual_seed(step))
        return {"x": x, "y": (x[:, 0] > 0).long()}

    task = FunctionTask(batch, lambda m, b: classification_loss(m(b["x"]), b["y"]))
    cfg = TrainConfig(max_steps=3, batch_size=4, out_dir=str(tmp_path), device="cpu", log_every=1)
    torch.set_num_threads(1)
    Trainer(nn.Linear(4, 2), task, cfg, quiet=True, log_info={"source": "test"}).fit()
    Trainer(nn.Linear(4, 2), task, cfg.replace(max_steps=5), resume=True, quiet=True).fit()
    starts = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["split"] == "start"]
    assert starts == [{"step": 0, "split": "start", "threads": 1, "source": "test"},
                      {"step": 3, "split": "start", "threads": 1}]  # fmt: skip


def test_torchrun_failures_are_cut_to_the_workers_line(capsys):
    script = (
        "import sys; w = sys.stderr.write\n"
        "w('W1130 12:00:00.1 run.py] Setting OMP_NUM_THREADS\\n')\n"
        "w('attnlab train: error: --out: x already has checkpoints\\n')\n"
        "w('attnlab train: error: --out: x already has checkpoints\\n')\n"
        "w('Traceback (most recent call last):\\n  File x\\n')\n"
        "w('ChildFailedError:\\n  exitcode  : 2 (pid: 1)\\n')\n"
        "sys.exit(1)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    assert _relay_errors(proc) == 2
    assert capsys.readouterr().err == "attnlab train: error: --out: x already has checkpoints\n"
