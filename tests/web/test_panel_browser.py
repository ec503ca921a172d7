"""The control panel in a real browser: Debian's chromium, headless, driven by Selenium
through /usr/bin/chromedriver (nothing downloaded), against the app ``faxcore serve``
runs (uvicorn on a free port, the background scheduler, the loopback channel paced in
real time so progress can be watched).

Log in, send a fax with a cover page and watch it reach ``delivered`` (the page updates
itself), open the received fax at the other account; a suspended account sees only
account information and payment, a direct URL to send is refused, paying brings the full
panel; a terminated account's log-in is refused; the operator screen. Screenshots of each
panel state go to ``out/screens/``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from faxcore.accounts import Status
from faxcore.server.config import ChannelConfig, ServerConfig
from faxcore.server.service import Service
from faxcore.testing.pages import letter_page
from faxcore.testing.panel import ADMIN, PASSWORD, free_port, make_account, running
from faxcore.web import install_panel

SCREENS = Path(__file__).resolve().parents[2] / "out" / "screens"


@dataclass
class Live:
    url: str
    service: Service
    driver: object
    tmp: Path

    def shot(self, name: str) -> Path:
        SCREENS.mkdir(parents=True, exist_ok=True)
        path = SCREENS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def get(self, path: str) -> None:
        self.driver.get(self.url + path)

    def login(self, login: str, password: str = PASSWORD) -> None:
        from selenium.webdriver.common.by import By  # noqa: PLC0415 (selenium: test-only)

        self.get("/panel/login")
        self.driver.find_element(By.ID, "login").send_keys(login)
        self.driver.find_element(By.ID, "password").send_keys(password)
        self.driver.find_element(By.ID, "login-button").click()

    def logout(self) -> None:
        self.driver.delete_all_cookies()


@pytest.fixture
def live(tmp_path: Path, browser_tools: tuple[str, str], request: pytest.FixtureRequest
         ) -> Iterator[Live]:
    """``@pytest.mark.no_js``: the browser runs with JavaScript off."""
    chromium, chromedriver = browser_tools
    from selenium import webdriver  # noqa: PLC0415 (after the tool check: a clear skip/fail)
    from selenium.webdriver.chrome.service import Service as DriverService  # noqa: PLC0415

    config = ServerConfig(data_dir=str(tmp_path / "data"), admin_token=ADMIN, workers=2,
                          channels=[ChannelConfig(pace=0.15)])
    service = Service(config)
    app = service.app()
    install_panel(app, service)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1100,900", "--disable-gpu"):
        opts.add_argument(arg)
    if request.node.get_closest_marker("no_js"):
        opts.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=DriverService(chromedriver), options=opts)
    driver.implicitly_wait(0)
    service.start_background()
    try:
        with running(app, free_port()) as url:
            yield Live(url, service, driver, tmp_path)
    finally:
        driver.quit()
        service.close()


def _wait(driver, cond, timeout: float = 60.0):
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415 (test-only)

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(cond)


A11Y_JS = """
const bad = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const label = el.id && document.querySelector('label[for="' + el.id + '"]');
  if (!label && !el.getAttribute('aria-label')) bad.push('no label: ' + (el.name || el.id));
}
for (const img of document.querySelectorAll('img')) {
  if (!img.getAttribute('alt')) bad.push('no alt: ' + img.src.slice(0, 60));
}
for (const b of document.querySelectorAll('button')) {
  if (!b.textContent.trim()) bad.push('button without text');
}
if (!document.documentElement.lang) bad.push('no lang');
if (document.querySelectorAll('h1').length !== 1) bad.push('not one h1');
return bad;
"""


def _accessible(driver) -> None:
    """Form fields labelled, images with alt text, buttons named, one h1, a language."""
    problems = driver.execute_script(A11Y_JS)
    assert not problems, (driver.current_url, problems)


def _nav(driver) -> list[str]:
    from selenium.webdriver.common.by import By  # noqa: PLC0415 (test-only)

    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "header nav a")]


def test_send_a_fax_watch_it_delivered_and_open_it_at_the_receiver(live):
    from selenium.webdriver.common.by import By  # noqa: PLC0415 (test-only)

    store = live.service.store()
    now = datetime.now(UTC)
    make_account(store, now, Status.active, login="alice", numbers=("5550100",))
    make_account(store, now, Status.active, login="bob", numbers=("5550200",))
    doc = live.tmp / "letter.png"
    Image.fromarray(((1 - letter_page(1100, 7)) * 255).astype("uint8"), "L").save(doc)

    t0 = time.monotonic()
    live.login("alice")
    _wait(live.driver, lambda d: d.current_url.endswith("/panel/dashboard"))
    assert _nav(live.driver) == ["Dashboard", "Send a fax", "Outbox", "Inbox", "Account",
                                 "Payment", "API keys"]
    assert "active" in live.driver.find_element(By.ID, "status").text
    live.shot("01-dashboard-active")
    _accessible(live.driver)

    live.get("/panel/send")
    live.driver.find_element(By.ID, "to").send_keys("5550200")
    live.driver.find_element(By.ID, "file").send_keys(str(doc))
    live.driver.find_element(By.ID, "header").send_keys("ACME LTD")
    live.driver.find_element(By.ID, "cover").click()
    live.driver.find_element(By.ID, "note").send_keys("Two pages: this cover and a letter.")
    live.shot("02-send-form")
    _accessible(live.driver)
    live.driver.find_element(By.ID, "preview-button").click()
    img = _wait(live.driver, lambda d: d.find_element(By.ID, "preview"))
    assert live.driver.execute_script("return arguments[0].naturalWidth", img) == 1728
    assert "ACME LTD" in live.driver.find_element(By.ID, "header-line").text
    assert "PAGE 1/2" in live.driver.find_element(By.ID, "header-line").text
    live.shot("03-send-preview")
    _accessible(live.driver)

    live.driver.find_element(By.ID, "send-button").click()
    _wait(live.driver, lambda d: "/panel/outbox/" in d.current_url)
    seen = set()

    def delivered(d):
        seen.add(d.find_element(By.ID, "state").text)
        return d.find_element(By.ID, "state").text == "delivered"

    _wait(live.driver, delivered, 90)
    assert live.driver.find_element(By.ID, "pages").text == "2/2"
    assert live.driver.find_element(By.ID, "attempts").text == "1"
    live.shot("04-outbox-delivered")
    _accessible(live.driver)
    send_s = time.monotonic() - t0
    # the page updated itself: it showed a state before "delivered" without a reload
    assert seen - {"delivered"}, seen

    live.logout()
    live.login("bob")
    _wait(live.driver, lambda d: d.current_url.endswith("/panel/dashboard"))
    live.get("/panel/inbox")
    thumb = live.driver.find_element(By.CSS_SELECTOR, "#inbox img")
    _wait(live.driver, lambda d: d.execute_script("return arguments[0].complete && "
                                                  "arguments[0].naturalWidth", thumb))
    assert live.driver.execute_script("return arguments[0].naturalWidth", thumb) == 240
    live.shot("05-inbox")
    _accessible(live.driver)
    thumb.click()
    _wait(live.driver, lambda d: d.find_elements(By.ID, "pdf"))
    pages = live.driver.find_elements(By.CSS_SELECTOR, "img.page")
    assert len(pages) == 2
    _wait(live.driver, lambda d: all(d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", p) for p in pages))
    live.shot("06-received-fax")
    _accessible(live.driver)
    print(f"browser: log-in to delivered {send_s:.1f} s")


def test_suspended_sees_only_info_and_payment_until_it_pays(live):
    from selenium.webdriver.common.by import By  # noqa: PLC0415 (test-only)

    store = live.service.store()
    acct = make_account(store, datetime.now(UTC), Status.suspended_until_paid, login="sam")
    live.login("sam")
    _wait(live.driver, lambda d: d.current_url.endswith("/panel/account"))
    assert _nav(live.driver) == ["Account", "Payment"]
    assert "suspended until paid" in live.driver.find_element(By.ID, "status").text
    assert "$5.00" in live.driver.find_element(By.ID, "balance").text
    assert "0 received fax(es) are held" in live.driver.find_element(By.ID, "held").text
    assert "Becomes terminated on" in live.driver.find_element(By.ID, "deadlines").text
    live.shot("10-limited-account")
    _accessible(live.driver)
    live.driver.set_window_size(390, 844)  # a phone
    live.shot("11-limited-account-phone")
    live.driver.set_window_size(1100, 900)

    for path in ("/panel/send", "/panel/outbox", "/panel/inbox", "/panel/dashboard",
                 "/panel/keys"):
        live.get(path)
        reason = live.driver.find_element(By.ID, "reason")
        assert "suspended until paid" in reason.text, path
        assert reason.get_attribute("data-code") == "suspended_until_paid"
    live.get("/panel/send")
    live.shot("12-limited-send-refused")
    _accessible(live.driver)

    live.get("/panel/pay")
    live.shot("13-payment")
    _accessible(live.driver)
    live.driver.find_element(By.ID, "pay-button").click()
    _wait(live.driver, lambda d: d.find_elements(By.ID, "paid"))
    assert "Your account is active" in live.driver.find_element(By.ID, "paid").text
    assert _nav(live.driver) == ["Dashboard", "Send a fax", "Outbox", "Inbox", "Account",
                                 "Payment", "API keys"]
    assert store.status(acct, datetime.now(UTC)).status is Status.active
    live.shot("14-paid-full-panel")
    _accessible(live.driver)
    live.get("/panel/send")
    assert live.driver.find_elements(By.ID, "preview-button")


def test_terminated_login_is_refused_and_the_operator_reactivates(live):
    from selenium.webdriver.common.by import By  # noqa: PLC0415 (test-only)

    store = live.service.store()
    acct = make_account(store, datetime.now(UTC), Status.terminated, login="tom")
    live.login("tom")
    box = _wait(live.driver, lambda d: d.find_element(By.ID, "terminated"))
    for text in ("terminated", "+1 800 555 0199", "support@faxmicro.example", "Live chat",
                 "$10.00"):
        assert text in box.text, text
    assert live.driver.current_url.endswith("/panel/login")
    live.shot("20-terminated-login-refused")
    _accessible(live.driver)
    live.get("/panel/account")  # no session was made
    assert live.driver.current_url.endswith("/panel/login")

    live.login("admin", ADMIN)
    _wait(live.driver, lambda d: d.current_url.endswith("/panel/admin"))
    live.shot("21-operator-accounts")
    _accessible(live.driver)
    live.driver.find_element(By.ID, f"reactivate-{acct}").click()
    done = _wait(live.driver, lambda d: d.find_element(By.ID, "done"))
    assert "reactivated" in done.text and "suspended_until_paid" in done.text
    live.logout()
    live.login("tom")
    _wait(live.driver, lambda d: d.current_url.endswith("/panel/account"))
    assert _nav(live.driver) == ["Account", "Payment"]
    assert any("reactivation" in r.text for r in
               live.driver.find_elements(By.CSS_SELECTOR, "#ledger tbody tr"))
    live.shot("22-reactivated-limited")
    _accessible(live.driver)


@pytest.mark.no_js
def test_without_javascript_a_fax_can_be_sent_and_followed(live):
    """The core flow with JavaScript off: log in, preview, send, and reload the fax's
    page (the Refresh link's way) until it is delivered."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415 (test-only)

    store = live.service.store()
    now = datetime.now(UTC)
    make_account(store, now, Status.active, login="nina", numbers=("5550300",))
    doc = live.tmp / "page.png"
    Image.fromarray(((1 - letter_page(600, 2)) * 255).astype("uint8"), "L").save(doc)
    live.login("nina")
    _wait(live.driver, lambda d: d.current_url.endswith("/panel/dashboard"))
    live.get("/panel/send")
    live.driver.find_element(By.ID, "to").send_keys("5550300")
    live.driver.find_element(By.ID, "file").send_keys(str(doc))
    live.driver.find_element(By.ID, "preview-button").click()
    _wait(live.driver, lambda d: d.find_elements(By.ID, "send-button"))
    live.driver.find_element(By.ID, "send-button").click()
    _wait(live.driver, lambda d: "/panel/outbox/" in d.current_url)
    fax_url = live.driver.current_url

    def delivered_after_reload(d):
        d.get(fax_url)
        return d.find_element(By.ID, "state").text == "delivered"

    _wait(live.driver, delivered_after_reload, 90)
    assert live.driver.find_element(By.ID, "pages").text == "1/1"
    live.shot("07-no-js-delivered")
