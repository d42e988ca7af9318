import os
import shutil

import pytest
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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    "--lang=en-US",
]


@pytest.fixture(autouse=True)
def _no_slowdown_state_between_tests():
    """The slowdown watch and adaptive threads keep process-wide state: each test starts without it."""
    from attnlab import progress, threads

    yield
    progress.on_slowdown(None)
    progress._warned = False
    threads._adaptive = None


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium driven by selenium; skipped, with the reason, when one of them is missing
    (`make test` installs Chromium and chromedriver when it can)."""
    try:
        from selenium import webdriver
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BROWSER_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
