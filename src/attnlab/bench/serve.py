"""``attnlab bench serve``: the explorer (``attnlab serve``) under many concurrent clients.

Starts ``attnlab serve`` in its own process on a free port (or uses ``--url``), asks each demo model
once (training it on first use; not timed), then runs ``--clients`` threads that each send
``--requests`` ``POST /api/inspect`` requests one after another (a new connection each, as the
server speaks HTTP/1.0), alternating the coffee-shop question answerer and the date translator over
varied texts. Prints the errors (any status but 200, a reset or refused connection, a reply for
another text), requests per second and the latency percentiles (p50, p90, p99, max), overall and per
model. The clients run in this process, the server in another: both share the machine's cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PLACES = ["咖啡店", "书店", "面包店", "超市"]
DRINKS = ["拿铁", "美式咖啡", "绿茶", "热巧克力"]
QUESTIONS = ["我先去了哪里", "我现在在哪里"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "March", "May", "July", "September", "November", "février", "März", "六月"]


def jobs(count: int, offset: int = 0) -> list[tuple[str, str]]:
    """``count`` (model, text) requests: coffee-qa and dates-bahdanau in turn, texts varied."""
    out = []
    for i in range(offset, offset + count):
        if i % 2 == 0:
            place, drink = PLACES[i // 2 % len(PLACES)], DRINKS[i // 8 % len(DRINKS)]
            q = QUESTIONS[i // 32 % len(QUESTIONS)]
            out.append(
                ("coffee-qa", f"我昨天去了一家{place}，点了一杯{drink}，然后我从{place}出来，回家了。{q}？")
            )
        else:
            day, month = DAYS[i % len(DAYS)], MONTHS[i // 2 % len(MONTHS)]
            out.append(("dates-bahdanau", f"{day}, {1 + i % 28} {month} {1990 + i % 40}"))
    return out


def percentile(sorted_values: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5 - 1e-9)))
    return sorted_values[rank - 1]


@dataclass
class LoadResult:
    """What a load run measured: latencies (s) per model, errors by kind, wall time."""

    clients: int
    requests: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        return sum(map(len, self.latencies.values()))

    def summary(self, model: str | None = None) -> dict:
        values = sorted(v for m, vs in self.latencies.items() if model in (None, m) for v in vs)
        ms = {f"p{p}": 1000 * percentile(values, p) for p in (50, 90, 99)}
        return {"n": len(values), **ms, "max": 1000 * (values[-1] if values else float("nan"))}


def request(host: str, port: int, model: str, text: str, timeout: float = 120.0) -> str | None:
    """One inspection; None when it succeeded, else what went wrong (a short error kind)."""
    body = json.dumps({"model": model, "text": text}, ensure_ascii=False).encode("utf-8")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", "/api/inspect", body, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        data = reply.read()
    except OSError as e:
        return type(e).__name__
    except http.client.HTTPException as e:
        return type(e).__name__
    finally:
        conn.close()
    if reply.status != 200:
        return f"HTTP {reply.status}"
    found = json.loads(data)
    if found.get("model") != model or "".join(found.get("tokens", [])).replace(" ", "") != text.replace(
        " ", ""
    ):
        return "wrong reply"
    return None


def run_load(url: str, clients: int, requests: int, make_jobs=jobs) -> LoadResult:
    """``clients`` threads, each sending ``requests`` inspections in turn to the explorer at ``url``;
    client ``i`` sends ``make_jobs(requests, i * requests)`` (a list of ``(model, text)``)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result, lock = LoadResult(clients, requests), threading.Lock()
    start_line = threading.Barrier(clients)

    def client(index: int) -> None:
        mine, errors, latencies = make_jobs(requests, index * requests), Counter(), {}
        start_line.wait()
        for model, text in mine:
            t = time.perf_counter()
            error = request(host, port, model, text)
            if error is None:
                latencies.setdefault(model, []).append(time.perf_counter() - t)
            else:
                errors[error] += 1
        with lock:
            result.errors.update(errors)
            for model, values in latencies.items():
                result.latencies.setdefault(model, []).extend(values)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - t0
    return result


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--requests", type=int, default=1000, help="requests per client (default 1000)")
    p.add_argument("--url", default=None, help="an explorer already running (default: start one)")
    p.add_argument("--workers", type=int, default=8, help="the started server's worker threads (default 8)")
    p.add_argument(
        "--server-threads", type=int, default=None, metavar="N",
        help="the started server's torch threads (default: its own automatic choice)",
    )  # fmt: skip


def _start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable,
        "-m",
        "attnlab.cli",
        "serve",
        "--port",
        "0",
        "--quiet",
        "--workers",
        str(args.workers),
    ]
    if args.server_threads is not None:
        cmd += ["--threads", str(args.server_threads)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise ValueError(f"server: `attnlab serve` did not start ({line.strip() or 'no output'})")
    return proc, line[line.index("http://") :].split()[0]


def _print(result: LoadResult) -> None:
    total = result.clients * result.requests
    errors = sum(result.errors.values())
    kinds = ", ".join(f"{k}: {n}" for k, n in result.errors.most_common()) or "none"
    head = f"{result.clients} clients x {result.requests} requests = {total}"
    print(f"\n{head}: {result.ok} ok, {errors} errors ({kinds})")
    print(f"{result.seconds:.1f} s, {result.ok / result.seconds:.1f} requests/s\n")
    print("| model | requests | p50 ms | p90 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|")
    for model in [*sorted(result.latencies), None]:
        s = result.summary(model)
        name = model or "all"
        print(f"| {name} | {s['n']} | {s['p50']:.1f} | {s['p90']:.1f} | {s['p99']:.1f} | {s['max']:.1f} |")


def run(args: argparse.Namespace) -> int:
    for name in ("clients", "requests", "workers"):
        if getattr(args, name) < 1:
            raise ValueError(f"{name}: expected >= 1, got {getattr(args, name)}")
    proc, url = (None, args.url) if args.url else _start_server(args)
    try:
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; server {url}", flush=True)
        host, port = urlsplit(url).hostname, urlsplit(url).port or 80
        for model, text in jobs(2):  # load (and on first use train) each model: not timed
            t = time.perf_counter()
            error = request(host, port, model, text, timeout=900)
            if error is not None:
                raise ValueError(f"server: the first {model} request failed ({error})")
            print(f"first {model} request: {time.perf_counter() - t:.2f} s", flush=True)
        result = run_load(url, args.clients, args.requests)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    _print(result)
    return 0 if not result.errors else 1
