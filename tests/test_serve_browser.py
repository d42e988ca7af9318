"""End to end in headless Chromium: pick the coffee-shop model, submit the course's sentence, wait for
the heatmap, find 咖 among its token labels, hover a cell, switch to 中文, save a screenshot to
test-artifacts/serve.png. Skipped (with the reason) when Chromium, chromedriver or selenium is absent;
`make test` installs Chromium when it can."""

import threading
from pathlib import Path

import pytest

from attnlab.app.demo_models import COFFEE_QUESTIONS, DEMO_STEPS_ENV
from attnlab.data.tasks.coffee_shop import answers
from attnlab.serve import make_server

try:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    pytest.skip("selenium is not installed (pip install selenium)", allow_module_level=True)

COFFEE = "我昨天去了一家咖啡店，点了一杯拿铁，然后我从咖啡店出来，回家了"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(DEMO_STEPS_ENV, "3")
    srv = make_server("127.0.0.1", 0, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_heatmap_of_the_coffee_shop_sentence(server, browser):
    wait = WebDriverWait(browser, 30)
    browser.get(server.url)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#model option[value='coffee-qa']")))
    Select(browser.find_element(By.ID, "model")).select_by_value("coffee-qa")
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(COFFEE)
    assert box.get_attribute("value") == COFFEE
    browser.find_element(By.ID, "submit").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#heatmap[data-ready='1'] rect.cell")))

    keys = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#heatmap text.klabel")]
    queries = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#heatmap text.qlabel")]
    assert keys == queries == list(COFFEE) and "咖" in keys
    cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell")
    assert len(cells) == len(COFFEE) ** 2
    answer = browser.find_element(By.ID, "output").text.split(" (")[0]
    assert answer in answers("zh", COFFEE_QUESTIONS)  # the demo answers the course's questions

    ActionChains(browser).move_to_element(cells[keys.index("咖")]).perform()  # row 0, the key 咖
    tip = browser.find_element(By.ID, "tooltip")
    wait.until(lambda _: tip.is_displayed())
    assert tip.text.startswith("query 我 → key 咖: weight 0.")

    Select(browser.find_element(By.ID, "kind")).select_by_value("pooling")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#heatmap text.qlabel")) == 1)
    heads = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "head")).options]
    assert heads == ["avg", "0"]

    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.ID, "submit").text == "查看注意力"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert Select(browser.find_element(By.ID, "kind")).first_selected_option.text == "注意力池化"
    ARTIFACTS.mkdir(exist_ok=True)
    Select(browser.find_element(By.ID, "kind")).select_by_value("encoder")
    browser.execute_async_script("document.fonts.ready.then(arguments[0])")  # the served CJK font
    assert browser.execute_script("return document.fonts.check('14px attnlab-cjk', '咖')")
    assert browser.save_screenshot(str(ARTIFACTS / "serve.png"))


def test_errors_show_in_the_page(server, browser):
    browser.get(server.url)
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#model option")))
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys("   ")
    browser.find_element(By.ID, "submit").click()
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 20).until(lambda _: error.is_displayed())
    assert "text: expected some text" in error.text
