"""The wall-clock timer shared by the benchmarks and the timing experiments, on a fake clock."""

from types import SimpleNamespace

import pytest

from attnlab.bench import timing


def fake_clock(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    return now


def test_best_of_after_warmup_and_median(monkeypatch):
    now = fake_clock(monkeypatch)
    durations = iter([5.0, 0.003, 0.001, 0.002])  # the slow first call is the warm-up: not counted

    def fn():
        now[0] += next(durations)

    assert timing.time_ms(fn, repeats=3, warmup=1, budget_s=20.0, stat=min) == pytest.approx(1.0)
    durations = iter([5.0, 0.003, 0.001, 0.002])
    assert timing.time_ms(fn, repeats=3, warmup=1) == pytest.approx(2.0)  # the median by default


def test_interleaved_round_robin_and_budget(monkeypatch):
    now = fake_clock(monkeypatch)
    calls = []

    def make(name, seconds):
        def fn():
            calls.append(name)
            now[0] += seconds

        return fn

    got = timing.time_interleaved({"a": make("a", 0.001), "slow": make("slow", 11.0)}, repeats=3, budget_s=20)
    assert calls == ["a", "slow", "a", "slow", "a", "a"]  # warm-ups, then turns; slow timed once
    assert got == pytest.approx({"a": 1.0, "slow": 11000.0})
    calls.clear()
    got = timing.time_interleaved(
        {"a": make("a", 0.001), "b": make("b", 0.002)}, repeats=2, warmup=0, stat=min
    )
    assert calls == ["a", "b", "a", "b"] and got == pytest.approx({"a": 1.0, "b": 2.0})
