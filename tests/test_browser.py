"""The pages people use, in a real browser: Debian's chromium through selenium (headless, no
JavaScript needed by any page), at a phone's width. Skipped, with the reason, on a machine
without chromium and chromium-driver."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Env, Process, SMTPRecorder
from tests.test_subscribe import STORY, link, listed, local, mails

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver")
PHONE = (390, 844)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}",
                 f"--window-size={PHONE[0]},{PHONE[1]}"):
        options.add_argument(flag)
    # a desktop window cannot be made this narrow; a phone's screen is emulated instead
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
        "width": PHONE[0], "height": PHONE[1], "pixelRatio": 2}})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def fits_a_phone(browser: Any, name: str) -> None:
    """The page scrolls only down, never sideways, on a 390 px screen; a screenshot is kept
    where FEEDS_TEST_SCREENSHOTS says (for a person to look at)."""
    folder = os.environ.get("FEEDS_TEST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(folder) / f"{name}.png"))
    inner = browser.execute_script("return window.innerWidth")
    assert inner == PHONE[0], (name, inner)
    # usable without JavaScript: the pages carry none (the browser's own is only the test's)
    assert not browser.find_elements("css selector", "script"), name
    width = browser.execute_script("return document.documentElement.scrollWidth")
    wide = browser.execute_script(
        "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect()"
        ".right > document.documentElement.clientWidth + 1).map(e => e.tagName + '.' + "
        "e.className + ': ' + e.textContent.slice(0, 60)).slice(0, 5)")
    assert width <= PHONE[0], (name, width, wide)


def press(browser: Any, by: str, what: str, then: str) -> None:
    """Click a link or button, as a person would, and wait for the page that says `then`."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(by, what).click()
    WebDriverWait(browser, 10).until(lambda driver: then in driver.page_source)


def test_a_reader_subscribes_confirms_and_manages_it_in_a_browser(
        env: Env, smtp: SMTPRecorder, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    mailer = {"host": "127.0.0.1", "port": smtp.port, "security": "none"}
    env.write_config(smtp=mailer)
    env.drop("convoy.txt", STORY)
    server = Process(env, "serve", smtp=mailer)
    # pages link to the address the server answers at
    env.write_config(smtp=mailer, site={"base_url": server.url},
                     server={"host": "127.0.0.1", "port": server.port})
    env.feeds("ingest")
    server.wait_up()
    try:
        browser.get(server.url + "index.html")
        fits_a_phone(browser, "front-page")
        browser.get(server.url + "topics/syria.html")
        fits_a_phone(browser, "topic-page")
        press(browser, By.LINK_TEXT, "Email digest", "Subscribe by email")
        assert browser.current_url.endswith("/subscribe?topic=syria")
        fits_a_phone(browser, "subscribe")
        assert browser.find_element(By.CSS_SELECTOR, 'input[value="syria"]').is_selected()
        browser.find_element(By.NAME, "email").send_keys("sam@example.org")
        browser.find_element(By.CSS_SELECTOR, 'input[value="gaza"]').click()
        press(browser, By.CSS_SELECTOR, "form button[type=submit]", "Check your inbox")
        fits_a_phone(browser, "check-your-inbox")

        browser.get(local(link(mails(smtp)[-1], "confirm"), server))
        fits_a_phone(browser, "confirm")
        assert listed(env)["sam@example.org"]["status"] == "pending"  # a sign-up so far
        press(browser, By.CSS_SELECTOR, "form button[type=submit]", "You are subscribed")
        assert listed(env)["sam@example.org"]["status"] == "active"

        press(browser, By.LINK_TEXT, "Manage your subscription", "Your subscription")
        fits_a_phone(browser, "preferences")
        browser.find_element(By.CSS_SELECTOR, 'input[value="gaza"]').click()  # untick
        press(browser, By.CSS_SELECTOR, 'button[value="save"]', "Your choices are saved")
        assert listed(env)["sam@example.org"]["topics"] == ["syria"]
        press(browser, By.CSS_SELECTOR, 'button[value="unsubscribe"]', "You are unsubscribed")
        assert listed(env)["sam@example.org"]["status"] == "unsubscribed"
        assert browser.find_element(By.CSS_SELECTOR, 'button[value="resubscribe"]')
        fits_a_phone(browser, "preferences-unsubscribed")
        article = re.search(r'href="([^"]+/articles/[^"]+\.html)"',
                            (env.public / "index.html").read_text(encoding="utf-8"))
        assert article
        browser.get(article.group(1))
        fits_a_phone(browser, "article")
    finally:
        server.stop()

