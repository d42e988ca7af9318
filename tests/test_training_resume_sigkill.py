"""A run killed with SIGKILL at a random step and resumed ends with exactly the uninterrupted weights."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

HELPER = Path(__file__).parent / "training_helpers" / "tiny_run.py"
STEPS = 30
COMMON = ["--steps", str(STEPS), "--noise", "--dropout", "0.1", "--eval-every", "4"]


def helper(*args: str) -> list[str]:
    return [sys.executable, str(HELPER), *COMMON, *args]


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_identical(tmp_path):
    seed = int(time.time()) % 10_000
    rng = random.Random(seed)
    kill_after, delay = rng.randrange(2, STEPS - 8), rng.uniform(0.0, 0.03)
    where = f"(killed after checkpoint {kill_after} + {delay:.3f} s; seed {seed})"

    # The reference writes no checkpoints at all: saving must not disturb the run either.
    reference = subprocess.Popen(
        helper("--save-final", str(tmp_path / "ref.safetensors")),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    run = tmp_path / "run"
    victim = subprocess.Popen(
        helper("--out", str(run), "--sleep", "0.01"),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        for line in victim.stdout:
            if line.strip() == f"CKPT {kill_after}":
                time.sleep(delay)
                os.kill(victim.pid, signal.SIGKILL)
                break
        else:
            pytest.fail(f"the run ended before checkpoint {kill_after} {where}")
        assert victim.wait(timeout=30) == -signal.SIGKILL, where
    finally:
        if victim.poll() is None:
            victim.kill()
    out, err = reference.communicate(timeout=120)
    assert reference.returncode == 0, err

    resumed = subprocess.run(
        helper("--out", str(run), "--resume", "--save-final", str(tmp_path / "res.safetensors")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    first = int(resumed.stdout.split()[1])
    assert kill_after < first <= STEPS, f"resumed at {first} {where}"

    ref, res = load_file(str(tmp_path / "ref.safetensors")), load_file(str(tmp_path / "res.safetensors"))
    assert ref.keys() == res.keys()
    for name in ref:
        assert torch.equal(ref[name], res[name]), f"{name} differs {where}"
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")], "leftover temporaries"
