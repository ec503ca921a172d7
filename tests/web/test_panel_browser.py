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
def live(tmp_path: Path, browser_tools: tuple[str, str]) -> Iterator[Live]:
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

    live.get("/panel/send")
    live.driver.find_element(By.ID, "to").send_keys("5550200")
    live.driver.find_element(By.ID, "file").send_keys(str(doc))
    live.driver.find_element(By.ID, "header").send_keys("ACME LTD")
    live.driver.find_element(By.ID, "cover").click()
    live.driver.find_element(By.ID, "note").send_keys("Two pages: this cover and a letter.")
    live.shot("02-send-form")
    live.driver.find_element(By.ID, "preview-button").click()
    img = _wait(live.driver, lambda d: d.find_element(By.ID, "preview"))
    assert live.driver.execute_script("return arguments[0].naturalWidth", img) == 1728
    assert "ACME LTD" in live.driver.find_element(By.ID, "header-line").text
    assert "PAGE 1/2" in live.driver.find_element(By.ID, "header-line").text
    live.shot("03-send-preview")

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
    thumb.click()
    _wait(live.driver, lambda d: d.find_elements(By.ID, "pdf"))
    pages = live.driver.find_elements(By.CSS_SELECTOR, "img.page")
    assert len(pages) == 2
    _wait(live.driver, lambda d: all(d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", p) for p in pages))
    live.shot("06-received-fax")
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

    live.get("/panel/pay")
    live.shot("13-payment")
    live.driver.find_element(By.ID, "pay-button").click()
    _wait(live.driver, lambda d: d.find_elements(By.ID, "paid"))
    assert "Your account is active" in live.driver.find_element(By.ID, "paid").text
    assert _nav(live.driver) == ["Dashboard", "Send a fax", "Outbox", "Inbox", "Account",
                                 "Payment", "API keys"]
    assert store.status(acct, datetime.now(UTC)).status is Status.active
    live.shot("14-paid-full-panel")
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
    live.get("/panel/account")  # no session was made
    assert live.driver.current_url.endswith("/panel/login")

    live.login("admin", ADMIN)
    _wait(live.driver, lambda d: d.current_url.endswith("/panel/admin"))
    live.shot("21-operator-accounts")
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
