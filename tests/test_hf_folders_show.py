"""``attnlab show`` / ``serve`` on local Hugging Face folders: tiny random BERT and Llama models saved
with safetensors into a temporary folder (no network), every layer and head through attnlab, equal
to the model's own eager attention; clear one-line errors for unusable folders."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request

import pytest
import torch

transformers = pytest.importorskip(
    "transformers", minversion="5", reason="transformers 5 (the 'hf' extra) is not installed"
)

from attnlab.app.inspect import ModelStore, inspect_text, list_models  # noqa: E402
from attnlab.cli import main  # noqa: E402

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "a",
    "dog",
    ".",
    "ran",
]
TEXT = "the cat sat on the mat."


def _save(model, folder):
    tok = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)})
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-models")
    small = dict(vocab_size=len(VOCAB), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                 num_attention_heads=4, max_position_embeddings=40, initializer_range=0.5)  # fmt: skip
    torch.manual_seed(0)
    _save(transformers.BertModel(transformers.BertConfig(**small)), root / "tiny-bert")
    llama = transformers.LlamaConfig(
        **small, num_key_value_heads=2, bos_token_id=2, eos_token_id=3, pad_token_id=0
    )
    _save(transformers.LlamaForCausalLM(llama), root / "tiny-llama")
    return root


def _eager_maps(folder, ids, causal=False):
    auto = transformers.AutoModelForCausalLM if causal else transformers.AutoModel
    model = auto.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    return torch.stack([a[0] for a in out.attentions])  # (layers, heads, L, L)


def test_encoder_folder_every_layer_and_head_equals_eager(models):
    folder = models / "tiny-bert"
    ins = inspect_text(str(folder), TEXT, store=ModelStore(1))
    assert ins.tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]
    maps = ins.attentions["encoder"]
    assert maps.shape == (2, 4, 9, 9) and "16 dims" in ins.output and "BertModel" in ins.description
    ids = [VOCAB.index(t) for t in ins.tokens]
    torch.testing.assert_close(maps, _eager_maps(folder, ids), atol=1e-5, rtol=1e-5)
    assert float(maps.max()) > 0.5  # weights far from uniform: the comparison means something


def test_decoder_folder_generates_and_shows_causal_maps(models):
    folder = models / "tiny-llama"
    ins = inspect_text(str(folder), TEXT, store=ModelStore(1))
    maps = ins.attentions["decoder"]  # (layers, query heads, L + T, L + T)
    n = len(ins.tokens) + len(ins.target_tokens)
    assert maps.shape == (2, 4, n, n) and 1 <= len(ins.target_tokens) <= 16
    assert torch.equal(maps.triu(1), torch.zeros_like(maps))  # causal
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 4, n))
    ids = [VOCAB.index(t) for t in ins.tokens + ins.target_tokens]
    torch.testing.assert_close(maps, _eager_maps(folder, ids, causal=True), atol=1e-5, rtol=1e-5)


def test_models_folder_in_list_show_and_serve(models, tmp_path, capsys):
    from attnlab.serve import make_server

    listed = list_models(models)
    assert "Hugging Face" in listed["tiny-bert"] and "decoder" in listed["tiny-llama"]
    ins = inspect_text("tiny-bert", TEXT, models_dir=models, store=ModelStore(1), allow_paths=False)
    assert ins.attentions["encoder"].shape[:2] == (2, 4)

    png = tmp_path / "bert.png"
    assert (
        main(["show", str(models / "tiny-bert"), TEXT, "--layer", "1", "--head", "3", "--out", str(png)]) == 0
    )
    out = capsys.readouterr().out
    assert "encoder attention, layer 1 of 0..1, head 3" in out and png.read_bytes()[:4] == b"\x89PNG"

    srv = make_server("127.0.0.1", 0, models_dir=models, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(srv.url + "api/models", timeout=60) as r:
            names = [m["name"] for m in json.loads(r.read())["models"]]
        body = json.dumps({"model": "tiny-llama", "text": TEXT}).encode()
        req = urllib.request.Request(srv.url + "api/inspect", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            data = json.loads(r.read())
    finally:
        srv.shutdown()
        srv.server_close()
    assert {"tiny-bert", "tiny-llama"} <= set(names)
    layers, heads, lq, lk = data["attentions"]["decoder"]["shape"]
    assert (layers, heads) == (2, 4) and lq == lk == len(data["attentions"]["decoder"]["query_tokens"])


def test_unusable_folders_give_one_clear_error(models, tmp_path, monkeypatch, capsys):
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((models / "tiny-bert" / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match="no safetensors weights.*pickle"):
        inspect_text(str(pickled), TEXT, store=ModelStore(1))
    no_tok = tmp_path / "no-tokenizer"
    transformers.BertModel(transformers.BertConfig.from_pretrained(models / "tiny-bert")).save_pretrained(
        no_tok
    )
    with pytest.raises(ValueError, match="no tokenizer files"):
        inspect_text(str(no_tok), TEXT, store=ModelStore(1))
    assert main(["show", str(no_tok), TEXT, "--out", str(tmp_path / "x.png")]) == 2
    assert "no tokenizer files" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a folder"):
        list_models(tmp_path / "missing")
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if the extra were not installed
    with pytest.raises(ValueError, match=r"Hugging Face folder.*attnlab\[hf\]"):
        inspect_text(str(models / "tiny-bert"), TEXT, store=ModelStore(1))
