"""The explorer under load and against other sites: a bounded pool answers 20 concurrent clients x 50
requests with no error, a model that loads slowly blocks no other model, pages of other sites and
other host names (DNS rebinding) are refused, and a bug's 500 reply carries no exception text."""

import http.client
import json
import threading
import time

import pytest

from attnlab.app.demo_models import DEMO_STEPS_ENV
from attnlab.app.inspect import ModelStore
from attnlab.bench.serve import percentile, run_load
from attnlab.serve import app as serve_app
from attnlab.serve import make_server
from attnlab.serve.guard import refusal

SHORT = ["我先去了哪里？", "我现在在哪里？", "我点了一杯拿铁。", "咖啡店", "我回家了。"]


def short_jobs(count, offset=0):
    return [("coffee-qa", SHORT[(offset + i) % len(SHORT)]) for i in range(count)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTNLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv(DEMO_STEPS_ENV, "3")
        srv = make_server("127.0.0.1", 0, max_tokens=64, quiet=True, workers=4)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        yield srv
        srv.shutdown()
        srv.server_close()


def post(server, body: dict, headers: dict | None = None, path="/api/inspect"):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=60)
    data = json.dumps(body).encode()
    conn.request("POST", path, data, {"Content-Type": "application/json", **(headers or {})})
    reply = conn.getresponse()
    status, payload = reply.status, json.loads(reply.read())
    conn.close()
    return status, payload


def test_twenty_clients_fifty_requests_each_without_errors(server):
    assert post(server, {"model": "coffee-qa", "text": SHORT[0]})[0] == 200  # trains the demo once
    clients, before, peak = 20, threading.active_count(), [0]
    done = threading.Event()

    def watch():  # the pool is bounded: no thread per connection
        while not done.is_set():
            peak[0] = max(peak[0], threading.active_count())
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run_load(server.url, clients, 50, make_jobs=short_jobs)
    finally:
        done.set()
        watcher.join()
    assert result.errors == {} and result.ok == clients * 50 and server.rejected == 0
    assert peak[0] <= before + 1 + clients  # the watcher and the clients; the 4 workers were there before
    s = result.summary()
    assert s["n"] == 1000 and 0 < s["p50"] <= s["p99"] <= s["max"]
    assert server.request_queue_size >= 128  # the listen backlog holds a burst of connections


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert [percentile(values, p) for p in (50, 99, 100)] == [50, 99, 100]
    assert percentile([3.0], 99) == 3.0


def test_a_slow_load_blocks_only_its_own_model():
    store, release, calls = ModelStore(4), threading.Event(), []

    def slow():
        calls.append("slow")
        release.wait(10)
        return ("slow",)

    waiters = [threading.Thread(target=store.get, args=("a", slow)) for _ in range(2)]
    for t in waiters:
        t.start()
    time.sleep(0.05)
    t = time.perf_counter()
    assert store.get("b", lambda: ("fast",)) == ("fast",)  # does not wait for "a"
    assert time.perf_counter() - t < 1.0
    release.set()
    for w in waiters:
        w.join(10)
    assert calls == ["slow"] and store.get("a", slow) == ("slow",)  # loaded once


@pytest.mark.parametrize(
    "headers,status,message",
    [
        ({"Origin": "http://evil.example"}, 403, "origin: requests from 'http://evil.example'"),
        ({"Origin": "null"}, 403, "origin"),
        ({"Sec-Fetch-Site": "cross-site"}, 403, "cross-site"),
        ({"Host": "evil.example:{port}"}, 403, "DNS rebinding"),
        ({"Host": "localhost:1"}, 403, "not this explorer's address"),
        ({"Origin": "http://localhost:{port}", "Host": "localhost:{port}"}, 200, None),
        ({"Origin": "http://127.0.0.1:{port}"}, 200, None),
    ],
)
def test_other_sites_and_host_names_are_refused(server, headers, status, message):
    port = server.server_address[1]
    headers = {k: v.format(port=port) for k, v in headers.items()}
    got, data = post(server, {"model": "coffee-qa", "text": SHORT[1]}, headers)
    assert got == status, data
    if message is not None:
        assert message in data["error"]


def test_guard_rules():
    assert refusal(None, None, None, "127.0.0.1", 8765) is None
    assert refusal("[::1]:8765", "http://[::1]:8765", "same-origin", "127.0.0.1", 8765) is None
    assert "host" in refusal("127.0.0.1:9999", None, None, "127.0.0.1", 8765)
    assert refusal("192.168.1.5:8765", "http://192.168.1.5:8765", None, "0.0.0.0", 8765) is None
    assert "origin" in refusal("192.168.1.5:8765", "http://evil.example:8765", None, "0.0.0.0", 8765)


def test_a_bug_answers_500_without_its_text(server, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail /home/someone/model")

    monkeypatch.setattr(serve_app, "inspect_text", broken)
    status, data = post(server, {"model": "coffee-qa", "text": SHORT[2]})
    assert status == 500 and "secret" not in data["error"] and "RuntimeError" not in data["error"]
    error_id = data["error"].split("id ")[1].split(")")[0]
    assert f"internal error {error_id}" in capsys.readouterr().err  # logged server-side


def test_max_tokens_has_an_upper_bound():
    with pytest.raises(ValueError, match="max-tokens: expected a whole number from 1 to 512"):
        make_server("127.0.0.1", 0, max_tokens=100_000)
