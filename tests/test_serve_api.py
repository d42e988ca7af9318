"""The explorer's JSON API on a real socket: models, inspections that match inspect_text, 4xx JSON errors
for bad input, and 8 concurrent requests (first loads included) that all succeed."""

import http.client
import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from attnlab.app import inspect as I
from attnlab.app.demo_models import DEMO_STEPS_ENV
from attnlab.app.recipes import RECIPE_FILE, Recipe, RecipeTask
from attnlab.serve import make_server
from attnlab.training import TrainConfig, Trainer

COFFEE = "我昨天去了一家咖啡店，点了一杯拿铁，然后我从咖啡店出来，回家了"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTNLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv(DEMO_STEPS_ENV, "3")
        torch.manual_seed(0)
        recipe = Recipe.create("reverse", "transformer-seq2seq", train_size=50)
        config = TrainConfig(max_steps=2, batch_size=4, out_dir=str(runs / "rev"), device="cpu")
        extra = {RECIPE_FILE: json.dumps(recipe.to_dict())}
        model = recipe.build_model(d_model=16, num_heads=2)
        Trainer(model, RecipeTask(recipe, 2), config, quiet=True, extra_files=extra).fit()
        srv = make_server("127.0.0.1", 0, models_dir=runs, max_tokens=64, quiet=True)
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        srv.runs = runs
        yield srv
        srv.shutdown()
        srv.server_close()


def call(server, path, body=None, method=None):
    """(status, headers, parsed JSON or text) of one request; ``body`` bytes or a JSON-able object."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url.rstrip("/") + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, headers, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    text = raw.decode("utf-8")
    return status, headers, json.loads(text) if "json" in headers["Content-Type"] else text


def test_page_and_static_files(server):
    assert server.server_address[0] == "127.0.0.1"
    status, headers, page = call(server, "/")
    assert (
        status == 200
        and '<svg id="heatmap"' in page
        and "script-src 'self'" in headers["Content-Security-Policy"]
    )
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing from a CDN
    status, headers, script = call(server, "/static/app.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and "中文" in script
    assert call(server, "/static/../inspect.py")[0] == 404 and call(server, "/nothing")[0] == 404


def test_models_lists_demos_and_runs(server):
    status, _, data = call(server, "/api/models")
    models = {m["name"]: m for m in data["models"]}
    assert status == 200 and data["max_tokens"] == 64
    assert {"coffee-qa", "dates-bahdanau", "rev"} <= set(models) and "reverse" in models["rev"]["description"]
    assert "咖啡店" in models["coffee-qa"]["example"]


def test_inspect_returns_what_inspect_text_returns(server):
    status, _, data = call(server, "/api/inspect", {"model": "coffee-qa", "text": COFFEE})
    assert status == 200 and data["tokens"] == list(COFFEE)
    direct = I.inspect_text("coffee-qa", COFFEE)
    assert data["output"] == direct.output
    enc = data["attentions"]["encoder"]
    w = torch.tensor(enc["weights"])
    assert enc["shape"] == list(w.shape) == [2, 4, len(COFFEE), len(COFFEE)] and enc["query_tokens"] == list(
        COFFEE
    )
    torch.testing.assert_close(w, direct.attentions["encoder"], atol=6e-5, rtol=0)
    assert (w.sum(-1) - 1).abs().max() < 1e-3
    status, _, data = call(server, "/api/inspect", {"model": "rev", "text": "1 2 3"})
    assert status == 200 and set(data["attentions"]) == {"encoder", "decoder", "cross"}


BIG = b'{"model": "coffee-qa", "text": "' + b"x" * 70_000 + b'"}'


@pytest.mark.parametrize(
    "body,status,message",
    [
        (b"{not json", 400, "malformed JSON"),
        (b'{"model": "coffee-qa", "text": "caf\xc3"}', 400, "not valid UTF-8"),
        (b'{"model": "coffee-qa", "text": "a\\ud800"}', 400, "not valid UTF-8"),
        (b"[1, 2]", 400, "expected a JSON object"),
        ({"model": "gpt-9", "text": "hi"}, 404, "unknown model 'gpt-9'; known models: coffee-qa"),
        ({"model": "coffee-qa"}, 400, "text: expected a string"),
        ({"model": "coffee-qa", "text": "  "}, 400, "text: expected some text"),
        ({"model": "coffee-qa", "text": "咖" * 65}, 400, "65 tokens, more than the cap of 64"),
        (BIG, 413, "more than the limit"),
    ],
)
def test_bad_requests_get_4xx_json_errors(server, body, status, message):
    got, headers, data = call(server, "/api/inspect", body)
    assert (
        got == status and headers["Content-Type"].startswith("application/json") and message in data["error"]
    )


def test_paths_methods_and_missing_length(server):
    got, _, data = call(server, "/api/inspect", {"model": str(server.runs / "rev"), "text": "1"})
    assert got == 404 and "unknown model" in data["error"]  # the API never opens a path it is given
    assert call(server, "/api/inspect")[0] == 405 and call(server, "/nope", b"{}")[0] == 404
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.putrequest("POST", "/api/inspect")
    conn.endheaders()
    reply = conn.getresponse()
    assert reply.status == 411 and "Content-Length" in json.loads(reply.read())["error"]


def test_eight_concurrent_requests_all_succeed(server):
    jobs = [("dates-bahdanau", f"{d} May 2021") for d in range(1, 5)] + [
        ("coffee-qa", COFFEE[: 10 + k]) for k in range(4)
    ]
    with ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda job: call(server, "/api/inspect", {"model": job[0], "text": job[1]}), jobs)
        )
    for (model, text), (status, _, data) in zip(jobs, replies):
        assert status == 200, data
        assert data["model"] == model and "".join(data["tokens"]) == text
