"""Configs as JSON and models as config.json + model.safetensors: round trips and clear errors."""

import json

import pytest
import torch
from safetensors.torch import save_file

from attnlab.models import (
    AttentionConfig,
    RNNSeq2SeqConfig,
    TransformerConfig,
    build_model,
    config_from_dict,
    config_to_dict,
    load_config,
    load_model,
    save_config,
    save_model,
)

CONFIGS = [
    TransformerConfig(kind="transformer-lm", d_model=16, num_heads=2, num_layers=1, position="t5"),
    TransformerConfig(kind="transformer-seq2seq", d_model=16, num_heads=2, num_layers=1, tgt_vocab_size=9),
    TransformerConfig(
        kind="transformer-classifier", d_model=16, num_heads=2, pooling="attention", position="shaw",
        attention=AttentionConfig(
            attention_mask={"name": "sliding_window", "window": 2}, backend=["chunked", "sdpa"]
        ),
    ),
    TransformerConfig(kind="transformer-encoder", d_model=16, num_heads=2, position="learned"),
    TransformerConfig(kind="vit", d_model=16, num_heads=2, num_layers=1, num_classes=10),
    RNNSeq2SeqConfig(attention="local-p", cell="lstm", embed_dim=8, hidden_size=8),
]  # fmt: skip


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.kind)
def test_save_load_round_trip(config, tmp_path):
    torch.manual_seed(0)
    model = build_model(config).eval()
    save_model(model, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((tmp_path / "m" / "config.json").read_text())["kind"] == config.kind
    loaded = load_model(tmp_path / "m")
    assert loaded.config == config
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    for name in state:
        assert torch.equal(state[name], loaded_state[name]), name


def test_tied_lm_outputs_survive_the_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model(CONFIGS[0]).eval()
    tokens = torch.randint(4, 32, (2, 5))
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.head.weight.data_ptr() == loaded.embed.tokens.weight.data_ptr()  # still tied
    torch.testing.assert_close(loaded(tokens)[0], model(tokens)[0])


def test_config_json_round_trip(tmp_path):
    for config in CONFIGS:
        assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config
    save_config(CONFIGS[1], tmp_path / "c.json")
    assert load_config(tmp_path / "c.json") == CONFIGS[1]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_model(tmp_path)
    model = build_model(CONFIGS[0])
    save_model(model, tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_model(tmp_path)
    other = build_model(TransformerConfig(kind="transformer-lm", d_model=32, num_heads=2, num_layers=1))
    save_file({k: v.contiguous() for k, v in other.state_dict().items() if k != "head.weight"},
              tmp_path / "model.safetensors")  # fmt: skip
    with pytest.raises(ValueError, match="do not match config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="unknown kind"):
        config_from_dict({"kind": "mamba"})
    with pytest.raises(ValueError, match="unknown fields"):
        config_from_dict({"kind": "rnn-seq2seq", "layers": 2})
    with pytest.raises(ValueError, match="expected an attnlab model"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x")
