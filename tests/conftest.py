import os

import torch
from hypothesis import HealthCheck, settings

# The suite must stay well under 15 minutes on 2 cores: a modest number of examples per property,
# more when HYPOTHESIS_PROFILE=thorough.
settings.register_profile(
    "default",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# CI draws the same examples on every run, so a landing never depends on luck; locally they vary.
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))

torch.set_num_threads(min(2, torch.get_num_threads()))
