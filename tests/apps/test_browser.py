"""A real browser: Playwright drives Debian's Chromium (headless) through both apps, as a user would: type, wait
for the streamed answer, read the evidence panel, the badges and the disclaimer, trigger an error, take a
screenshot (into VERITUNE_SCREENSHOT_DIR when set: that is how the README's pictures are made)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Debian's chromium is not installed (`apt-get install chromium`; .ci/run does it)"),
]
TIMEOUT_MS = 90_000
VERDICT_ZH = re.compile("有据可依|部分有据|缺乏依据|证据不足|没有可核查的陈述")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("VERITUNE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # not "networkidle": an app with session state keeps Gradio's heartbeat stream open for as long as it is shown
    page.goto(url, wait_until="load")
    page.locator("#ui-lang").wait_for(timeout=TIMEOUT_MS)
    return page


def test_medical_app_in_a_browser(browser, running_apps, shots: Path) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, running_apps["medical"])
    expect(page.locator("#disclaimer")).to_contain_text("Not a medical device")
    page.locator("#question textarea").fill("Patient Robert Miller, 58, has central chest pressure spreading to the "
                                            "left arm, sweating and nausea since this morning.")
    page.locator("#ask").click()
    expect(page.locator("#groundedness")).not_to_contain_text("Waiting", timeout=TIMEOUT_MS)
    expect(page.locator("#masked")).to_contain_text("PERSON")
    expect(page.locator("#evidence")).to_contain_text("MED-")
    expect(page.locator("#usage")).to_contain_text("tokens")
    assert "Robert" not in page.locator("#masked").inner_text()
    page.screenshot(path=str(shots / "medical.png"), full_page=True)
    page.locator("#question textarea").fill("")
    page.locator("#ask").click()
    expect(page.locator(".toast-body").first).to_contain_text("describe the case", timeout=TIMEOUT_MS)
    expect(page.locator(".toast-body").first).not_to_contain_text("[question]")
    page.locator("#ui-lang label", has_text="中文").click()
    expect(page.locator("#disclaimer")).to_contain_text("不是医疗器械")
    expect(page.get_by_text("评测集示例")).to_be_visible()
    # the English answer's verdict, verifier lines and usage now read in Chinese too
    expect(page.locator("#groundedness")).to_contain_text(VERDICT_ZH)
    expect(page.locator("#usage")).not_to_contain_text("tokens")
    page.locator("#question textarea").fill("患者胸痛，向左臂放射，伴出汗和恶心。")
    page.locator("#ask").click()
    expect(page.locator("#groundedness")).to_contain_text(VERDICT_ZH, timeout=TIMEOUT_MS)
    shown = page.locator("#groundedness").inner_text() + page.locator("#sentences").inner_text()
    assert not any(english in shown for english in ("of sentences", "cites no evidence", "not backed", "numbers "))
    page.close()


def test_finance_app_in_a_browser(browser, running_apps, shots: Path) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, running_apps["finance"])
    expect(page.locator("#disclaimer")).to_contain_text("not legal advice")
    page.locator("#document textarea").fill(
        "Memo from Jane Wilson. The account was opened before the sanctions screening of the beneficial owner was "
        "completed. The annual management fee was not mentioned before signing. Quarterly statements were sent "
        "on time.")
    page.locator("#check").click()
    expect(page.locator("#groundedness")).not_to_contain_text("Waiting", timeout=TIMEOUT_MS)
    expect(page.locator("#findings")).to_contain_text("FIN-")
    expect(page.locator("#risk")).to_contain_text("Risk level:")
    expect(page.locator("#masked")).to_contain_text("PERSON")
    page.screenshot(path=str(shots / "finance.png"), full_page=True)
    page.locator("#document textarea").fill("   ")
    page.locator("#check").click()
    expect(page.locator(".toast-body").first).to_contain_text("paste the text to check", timeout=TIMEOUT_MS)
    page.locator("#ui-lang label", has_text="中文").click()
    expect(page.get_by_text("评测集示例")).to_be_visible()
    expect(page.locator("#export-json")).to_contain_text("下载结果")
    expect(page.locator("#risk")).to_contain_text("风险等级")       # the English check's badges, reworded
    expect(page.locator("#groundedness")).to_contain_text(VERDICT_ZH)
    page.locator("#document textarea").fill("客户经理向客户承诺该理财产品保本保收益，年化收益率15%。")
    page.locator("#check").click()
    expect(page.locator("#risk")).to_contain_text("风险等级", timeout=TIMEOUT_MS)
    expect(page.locator("#groundedness")).to_contain_text(VERDICT_ZH, timeout=TIMEOUT_MS)
    page.close()


def test_the_mounted_app_asks_for_a_key_once_in_a_browser(browser, server) -> None:
    """Through `veritune serve`'s door: the form, the key, then the app itself, answering (its assets, queue and
    stream all carry the session cookie)."""
    from playwright.sync_api import expect

    from tests.apps.conftest import new_key

    key = new_key(server, "browser-door", rate="100/minute")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server["url"] + "/ui/medical/")
    expect(page.locator("h2")).to_contain_text("API key required")
    page.locator("#key").fill(key)
    page.locator("button[type=submit]").click()
    expect(page.locator("#disclaimer")).to_contain_text("Not a medical device", timeout=TIMEOUT_MS)
    page.locator("#question textarea").fill("Central chest pressure spreading to the left arm, sweating.")
    page.locator("#ask").click()
    expect(page.locator("#groundedness")).not_to_contain_text("Waiting", timeout=TIMEOUT_MS)
    expect(page.locator("#usage")).to_contain_text("tokens")
    page.close()
    ledger = server["keys"].usage(server["keys"].find("browser-door"))
    assert ledger["by_model"]["ui/medical"]["requests"] == 1
