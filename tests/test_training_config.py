import pytest

from attnlab.training import TrainConfig


def test_json_round_trip(tmp_path):
    cfg = TrainConfig(lr=1e-3, betas=(0.8, 0.95), schedule="inverse_sqrt", warmup_steps=7, out_dir="x")
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg and isinstance(again.betas, tuple)
    cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == cfg
    assert cfg.differences(cfg.replace(lr=2e-3)) == {"lr": (1e-3, 2e-3)}


@pytest.mark.parametrize(
    "bad",
    [
        {"lr": 0},
        {"max_steps": 0},
        {"batch_size": 2.5},
        {"label_smoothing": 1.0},
        {"mode": "up"},
        {"betas": (1, 0)},
    ],
)
def test_invalid_values_are_rejected(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)


def test_unknown_field_is_named():
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="JSON"):
        TrainConfig.from_json("{")
