"""Model folders written before AttentionConfig still load: the flat config.json layout (attention
options beside the other fields) gives the same config, the same parameter names and the same outputs.

The configs, parameter names and expected outputs below were produced by the code before the change
(``TransformerConfig`` with flat ``num_kv_heads``, ``backend``, ``attention_mask``... fields).
"""

import json

import pytest
import torch
from safetensors.torch import save_file

from attnlab.models import (
    AttentionConfig,
    TransformerConfig,
    build_model,
    config_from_dict,
    config_to_dict,
    create_model,
    load_model,
    save_model,
)

COMMON = {
    "activation": "gelu", "dropout": 0.0, "max_len": 16, "tie_embeddings": False, "attention_only": False,
    "pad_id": 0, "bos_id": 2, "eos_id": 3, "num_classes": 2, "pooling": "cls", "image_size": 8,
    "patch_size": 2, "channels": 1, "d_model": 8, "num_heads": 2, "d_ff": 16, "vocab_size": 11,
}  # fmt: skip
OLD_LM = COMMON | {
    "kind": "transformer-lm", "tgt_vocab_size": None, "num_kv_heads": 1, "num_layers": 2,
    "num_decoder_layers": None, "norm_first": True, "position": "t5", "max_relative_position": 16,
    "t5_num_buckets": 8, "t5_max_distance": 16,
    "attention_mask": [{"name": "sliding_window", "window": 2}, None], "backend": ["reference", "sdpa"],
}  # fmt: skip
OLD_SEQ2SEQ = COMMON | {
    "kind": "transformer-seq2seq", "tgt_vocab_size": 9, "num_kv_heads": None, "num_layers": 1,
    "num_decoder_layers": None, "norm_first": False, "position": "shaw", "max_relative_position": 3,
    "t5_num_buckets": 32, "t5_max_distance": 128, "attention_mask": None, "backend": "auto",
}  # fmt: skip
NEW_LM = TransformerConfig(
    kind="transformer-lm", vocab_size=11, d_model=8, num_heads=2, num_layers=2, d_ff=16, max_len=16,
    position="t5", tie_embeddings=False,
    attention=AttentionConfig(
        num_kv_heads=1, t5_num_buckets=8, t5_max_distance=16, backend=["reference", "sdpa"],
        attention_mask=[{"name": "sliding_window", "window": 2}, None],
    ),
)  # fmt: skip

LINEAR = ("weight", "bias")


PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


def _block(prefix: str, cross: bool, position_params: list[str]) -> list[str]:
    """The parameter names of one TransformerBlock."""
    attns = ["self_attn", "cross_attn"] if cross else ["self_attn"]
    subs = [f"{a}.{p}" for a in attns for p in PROJECTIONS]
    subs += ["self_res.norm", "ff.up", "ff.down", "ff_res.norm"] + (["cross_res.norm"] if cross else [])
    names = [f"{prefix}.{s}.{w}" for s in subs for w in LINEAR]
    return names + [f"{prefix}.self_attn.{p}" for p in position_params]


# Parameter names of the models built from OLD_LM and OLD_SEQ2SEQ by the code before the change.
OLD_LM_NAMES = [
    "embed.tokens.weight", "stack.norm.weight", "stack.norm.bias", "head.weight",
    *(n for i in (0, 1) for n in _block(f"stack.layers.{i}", False, ["t5.bias.weight"])),
]  # fmt: skip
SHAW = ["shaw.key_table.weight", "shaw.value_table.weight"]
OLD_SEQ2SEQ_NAMES = [
    "encoder.embed.tokens.weight", "decoder.embed.tokens.weight", "decoder.head.weight",
    *_block("encoder.stack.layers.0", False, SHAW), *_block("decoder.stack.layers.0", True, SHAW),
]  # fmt: skip
# Logits at the last position (first 5 of each row) and the sum of all logits, from the old code.
OLD_OUTPUTS = {
    "transformer-lm": (
        [-0.315366, 0.055252, -0.014677, 0.249964, -0.291296,
         -0.255808, 0.027638, 0.005331, 0.228061, -0.313439], -5.12116,
    ),
    "transformer-seq2seq": (
        [-0.112597, -0.418321, -0.952907, -0.150167, -0.150022,
         -0.497489, -0.498618, -0.83275, -0.089343, -0.320554], -20.81077,
    ),
}  # fmt: skip
SRC = torch.tensor([[4, 5, 6, 7, 8, 9], [5, 6, 7, 4, 3, 0]])
TGT = torch.tensor([[2, 4, 5, 6], [2, 7, 8, 3]])


def write_old_folder(folder, config: dict, names: list[str]) -> None:
    """An old model folder: the flat config.json and deterministic weights under the old names."""
    shapes = {k: v.shape for k, v in build_model(config).state_dict().items()}
    g = torch.Generator().manual_seed(1234)
    weights = {n: torch.randn(shapes[n], generator=g) * 0.3 for n in sorted(names)}
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_file(weights, folder / "model.safetensors")


def outputs(model):
    with torch.no_grad():
        if model.config.kind == "transformer-lm":
            return model(SRC)[0]
        return model(SRC, TGT, torch.tensor([6, 5]))[0]


@pytest.mark.parametrize(
    "old,names", [(OLD_LM, OLD_LM_NAMES), (OLD_SEQ2SEQ, OLD_SEQ2SEQ_NAMES)], ids=["lm", "seq2seq"]
)
def test_old_model_folders_load_with_the_same_outputs(old, names, tmp_path):
    write_old_folder(tmp_path / "old", old, names)
    model = load_model(tmp_path / "old")  # strict: every old name has a parameter, and no other
    assert sorted(model.state_dict()) == sorted(names)
    firsts, total = OLD_OUTPUTS[old["kind"]]
    out = outputs(model)
    torch.testing.assert_close(out[:, -1, :5].flatten(), torch.tensor(firsts), atol=1e-5, rtol=0)
    assert out.sum().item() == pytest.approx(total, abs=1e-4)
    # Saved again, the config has the new layout and loads to the same model.
    save_model(model, tmp_path / "new")
    data = json.loads((tmp_path / "new" / "config.json").read_text())
    assert "attention" in data and not {"backend", "num_kv_heads", "attention_mask"} & set(data)
    again = load_model(tmp_path / "new")
    assert again.config == model.config
    torch.testing.assert_close(outputs(again), out, atol=0, rtol=0)


def test_old_and_new_layouts_give_the_same_config():
    assert config_from_dict(OLD_LM) == NEW_LM
    assert config_from_dict(json.loads(json.dumps(config_to_dict(NEW_LM)))) == NEW_LM
    new = config_to_dict(NEW_LM)
    assert set(new["attention"]) == {
        "backend", "attention_mask", "num_kv_heads", "max_relative_position", "t5_num_buckets",
        "t5_max_distance", "rope_base",
    }  # fmt: skip
    # create_model takes the flat names too (e.g. `attnlab train --model-arg backend=sdpa`).
    flat = create_model("transformer-lm", d_model=16, num_heads=2, backend="sdpa", num_kv_heads=1)
    assert flat.config.attention == AttentionConfig(backend="sdpa", num_kv_heads=1)


@pytest.mark.parametrize(
    "data,match",
    [
        ({"backend": "sdpa", "attention": {"num_kv_heads": 1}}, "give them inside 'attention'"),
        ({"attention": {"windw": 3}}, r"attention: unknown fields \['windw'\]"),
        ({"attention": {"position": "rope"}}, "attention.position: a Transformer sets it"),
        ({"attention": {"dropout": 0.1}}, "attention.dropout"),
        ({"attention": {"position": "sinusoidal"}}, "position: unknown scheme"),
    ],
)
def test_attention_config_errors_name_the_field(data, match):
    with pytest.raises(ValueError, match=match):
        config_from_dict({"kind": "transformer-lm", **data})
