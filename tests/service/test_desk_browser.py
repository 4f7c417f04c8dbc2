"""The front-desk page in a real headless Chromium (Debian's), driven by Playwright.

A clerk's scanner types the code into the focused input and presses Enter: the card turns
green with the hotel fields; the same code again shows the refusal in plain Chinese. On
CI Chromium is installed by .ci/run; elsewhere the test skips when it is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from service_support import Service, build_service

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing on CI: .ci/run must install it")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    svc = build_service(tmp_path_factory.mktemp("desk"))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            svc.client.app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield svc, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    svc.platform.storage.close()


def test_a_scanned_code_shows_the_hotel_fields_then_its_replay_is_refused(
    live: tuple[Service, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    svc, base = live
    code = svc.code()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=ARGS, env={**os.environ, "HOME": str(tmp_path)}
        )
        page = browser.new_page(locale="zh-CN")
        page.goto(base + "/desk")
        expect(page.locator("#scenario option[value=hotel_checkin]")).to_have_count(1)
        page.fill("#apikey", svc.demo.rp_keys["hotel-qidu"])
        page.locator("#apikey").dispatch_event("change")
        page.select_option("#scenario", "hotel_checkin")
        page.locator("#code").focus()
        page.keyboard.type(code)  # a keyboard-wedge scanner types, then sends Enter
        page.keyboard.press("Enter")
        result = page.locator("#result")
        expect(result).to_have_class("result ok")
        expect(result).to_contain_text("核验通过")
        expect(result).to_contain_text("姓名")
        expect(result).to_contain_text("公民身份号码")
        expect(result).to_contain_text("*")
        page.screenshot(path=str(tmp_path / "desk-ok.png"))
        # The input is cleared and focused again for the next scan.
        expect(page.locator("#code")).to_have_value("")
        expect(page.locator("#code")).to_be_focused()
        page.keyboard.type(code)
        page.keyboard.press("Enter")
        expect(result).to_have_class("result bad")
        expect(result).to_contain_text("该码已使用过")
        expect(result).not_to_contain_text("姓名")  # nothing personal kept from the last scan
        stored = page.evaluate("JSON.stringify({...sessionStorage, ...localStorage})")
        assert code not in stored
        holder = svc.platform.storage.holders.get(svc.demo.residents[0])
        assert holder is not None
        assert holder.holder_code[-4:] not in stored
        browser.close()
