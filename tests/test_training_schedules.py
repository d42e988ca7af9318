import math

import pytest
import torch

from attnlab.training import TrainConfig, lr_factor, make_scheduler


def test_warmup_is_linear_then_cosine_decays_to_min():
    w, n = 4, 14
    f = [lr_factor(s, "cosine", w, n, 0.1) for s in range(n)]
    assert f[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f[4] == pytest.approx(1.0)  # first update after warmup: full rate
    for s in range(4, n):
        p = (s - w) / (n - w)
        assert f[s] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
    assert all(a >= b for a, b in zip(f[3:], f[4:]))
    assert f[-1] > 0.1  # the last update is not wasted at the floor
    assert lr_factor(n, "cosine", w, n, 0.1) == pytest.approx(0.1)
    assert lr_factor(10 * n, "cosine", w, n, 0.1) == pytest.approx(0.1)


def test_inverse_sqrt_meets_warmup_at_its_peak():
    w = 16
    for s in range(40):
        t = s + 1
        noam = min(t**-0.5, t * w**-1.5) * math.sqrt(w)  # Vaswani et al. 2017, normalised to peak 1
        assert lr_factor(s, "inverse_sqrt", w) == pytest.approx(noam)
    assert lr_factor(0, "inverse_sqrt", 0) == 1.0 and lr_factor(3, "inverse_sqrt", 0) == pytest.approx(0.5)


def test_constant_and_errors():
    assert [lr_factor(s, "constant", 2) for s in range(4)] == [0.5, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(0, "linear")
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")


def test_scheduler_follows_the_function():
    cfg = TrainConfig(lr=0.1, warmup_steps=3, max_steps=10, schedule="cosine")
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=cfg.lr)
    sched = make_scheduler(opt, cfg)
    for s in range(10):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * lr_factor(s, "cosine", 3, 10))
        opt.step()
        sched.step()
