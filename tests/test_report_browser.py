"""The Chinese report page in headless Chromium, on a machine whose only Chinese font is the one the
page embeds: every heading, table header and paragraph draws its Chinese characters with that font
(Chromium reports the fonts it rendered each node with), not with a system font that shows boxes.
Skipped (with the reason) when Chromium, chromedriver, selenium or the `fonts` extra is absent."""

import pytest

from attnlab.report import build_report
from attnlab.report.assets import find_cjk_font


def _chinese(text: str) -> int:
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text)


SELECTORS = ["h1", "#course h2", "tr.course-section th", "body > p", "section dl dt", "section h3"]


def test_the_chinese_page_draws_its_chinese_with_the_embedded_font(tmp_path, browser):
    from selenium.webdriver.common.by import By

    if find_cjk_font() is None:
        pytest.skip("no CJK font installed (pip install 'attnlab[fonts]')")
    _, zh = build_report(tmp_path / "report", tmp_path / "no-runs", log=lambda line: None)
    browser.get(zh.as_uri())
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1]; document.fonts.ready.then(done);"
    )
    browser.execute_cdp_cmd("DOM.enable", {})
    browser.execute_cdp_cmd("CSS.enable", {})
    root = browser.execute_cdp_cmd("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    for selector in SELECTORS:  # bold (headings, table headers) and regular text
        node = browser.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = browser.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        chinese = _chinese(browser.find_element(By.CSS_SELECTOR, selector).text)
        embedded = sum(f["glyphCount"] for f in fonts if f["isCustomFont"])
        assert chinese > 0 and embedded >= chinese, (selector, fonts)
