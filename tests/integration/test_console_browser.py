"""The web console in a real browser (Debian's chromium driven by Playwright), against a real server
with auth on and two return-drug rings loaded: an inspector follows a ring from the overview to a
closed case and its verified PDF; a regulator bulk-reviews with a reason and starts a run; hostile
names stay text; a POS key is refused; CSRF-less posts are refused; pages read with JavaScript off.

Screenshots of the main pages go to build/screenshots/ (or $TRACESVC_SCREENSHOTS); `make screenshots`
copies them to docs/screenshots/, which the README shows — a test run never changes a tracked file.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from tests.integration.test_console_http import HOSTILE, console_server

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("TRACESVC_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "build" / "screenshots")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (Debian package chromium; .ci/run installs it)"
)


@pytest.fixture(scope="module")
async def console(pg_admin_url, template_db, tmp_path_factory):
    async with console_server(pg_admin_url, template_db, tmp_path_factory.mktemp("console-browser")) as c:
        yield c


@pytest.fixture(scope="module")
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        await chromium.close()


async def new_page(browser, *, javascript: bool = True):
    context = await browser.new_context(
        java_script_enabled=javascript, accept_downloads=True, viewport={"width": 1280, "height": 900}, locale="zh-CN"
    )
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    page.dialogs = dialogs  # any alert() an injected script managed to run
    return page


async def sign_in(page, console, role: str) -> None:
    await page.goto(f"{console.url}/login")
    await page.fill("input[name=key]", console.keys[role])
    await page.click("button[type=submit]:has-text('登录')")
    await page.wait_for_url(re.compile(r".*/overview$"))


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_an_inspector_follows_a_ring_from_the_overview_to_a_closed_case_and_its_verified_pdf(
    browser, console, tmp_path
):
    page = await new_page(browser)
    await page.goto(f"{console.url}/login")
    await shot(page, "01-login")
    await sign_in(page, console, "INSPECTOR")
    assert await page.locator("h1").inner_text() == "总览"
    assert await page.locator("svg.chart").count() >= 2
    await shot(page, "02-overview")

    # overview → the queue of return-drug flags
    await page.click("a:has-text('REENTRY')")
    await page.wait_for_url(re.compile(r".*/flags\?.*rule=R"))
    rows = page.locator("table.queue tr.HIGH")
    assert await rows.count() == 4
    await shot(page, "03-flags")

    # a flag's detail: the finding in Chinese and English, its chain drawn, the custody timeline
    await rows.first.locator("a").first.click()
    await page.wait_for_selector("svg.chain")
    finding = await page.locator(".finding").inner_text()
    assert "回流药" in finding and "came back" in finding
    assert "回流入库 re-entry" in await page.locator("svg.chain").first.inner_html()
    assert await page.locator("table.timeline tr").count() > 3
    await shot(page, "04-flag")

    # the suggested ring becomes a case, is worked and closed, with a reason at every step
    await page.click("nav a:has-text('案件')")
    ring = page.locator("section.suggestion", has_text="DEALER").first
    await ring.locator("input[name=reason]").fill("回流药团伙，立案调查")
    await ring.locator("button[type=submit]").click()
    await page.wait_for_url(re.compile(r".*/cases/CASE-"))
    case_url = page.url
    for status, reason in (("INVESTIGATING", "现场检查"), ("CLOSED_CONFIRMED", "供货商无证，回流属实")):
        await page.select_option("select[name=status]", status)
        await page.fill("form[action$='/status'] input[name=reason]", reason)
        await page.click("form[action$='/status'] button[type=submit]")
        await page.wait_for_url(case_url)
    assert "结案·属实" in await page.locator("td.status").inner_text()
    assert "供货商无证，回流属实" in await page.locator("table.log").inner_text()

    # the case file: downloaded, then uploaded and verified against the digest the case log holds
    async with page.expect_download() as download_info:
        await page.click("a:has-text('下载案卷 PDF')")
    download = await download_info.value
    pdf = tmp_path / "case.pdf"
    await download.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    await page.reload()
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() in await page.locator("table.log").inner_text()
    await page.set_input_files("input[type=file]", str(pdf))
    await page.click("form[action$='/verify'] button[type=submit]")
    assert "核验通过" in await page.locator(".verdict").inner_text()
    await shot(page, "05-case")
    # a changed file is caught
    altered = tmp_path / "altered.pdf"
    altered.write_bytes(pdf.read_bytes() + b"\n%")
    await page.set_input_files("input[type=file]", str(altered))
    await page.click("form[action$='/verify'] button[type=submit]")
    assert "核验未通过" in await page.locator(".verdict").inner_text()
    assert page.dialogs == []
    await page.context.close()


async def test_a_regulator_reviews_in_bulk_with_a_reason_and_starts_a_run(browser, console):
    page = await new_page(browser)
    await sign_in(page, console, "REGULATOR")
    await page.goto(f"{console.url}/flags?rule=L&party=P1")
    boxes = page.locator("input[name=flag_id]")
    assert await boxes.count() >= 2
    await page.check("#select-page")  # the page's one script: tick every row
    assert all([await boxes.nth(i).is_checked() for i in range(await boxes.count())])
    first = await boxes.first.get_attribute("value")
    await page.fill("fieldset.bulk input[name=reason]", "批量确认：供货商 NOBODY 无证")
    await page.click("button[value=CONFIRMED]")
    assert "已审核" in await page.locator("p.ok").inner_text()
    await page.goto(f"{console.url}/flags/{first}")
    history = await page.locator("table.review").inner_text()
    assert "批量确认：供货商 NOBODY 无证" in history and "已确认" in history
    # a review needs its reason: the browser will not send the form without one, nor will the server take it
    response = await page.request.post(
        f"{console.url}/flags/bulk", form={"flag_id": first, "action": "DISMISSED", "reason": ""}
    )
    assert response.status == 403  # no CSRF token either: refused before anything else

    await page.click("nav a:has-text('核查任务')")
    await page.click("button[value=INCREMENTAL]")
    await page.wait_for_url(re.compile(r".*/runs/\d+$"))
    for _ in range(120):  # the page refreshes itself while the run goes; look until it says done
        if "已完成" in await page.locator(".run-status").inner_text():
            break
        await page.wait_for_timeout(500)
        await page.reload()
    assert "已完成" in await page.locator(".run-status").inner_text()
    await shot(page, "06-run")
    await page.goto(f"{console.url}/overview?lang=en")
    assert await page.locator("h1").inner_text() == "Overview"
    await shot(page, "07-overview-en")
    await page.context.close()


async def test_hostile_names_show_as_text_and_run_nothing(browser, console):
    page = await new_page(browser)
    await sign_in(page, console, "INSPECTOR")
    await page.goto(f"{console.url}/party/P2")
    assert HOSTILE in await page.locator("h1").inner_text()
    await shot(page, "08-party-hostile-name")
    assert page.dialogs == []
    await page.context.close()


async def test_a_pos_key_is_refused_politely(browser, console):
    page = await new_page(browser)
    await page.goto(f"{console.url}/login")
    await page.fill("input[name=key]", console.keys["POS"])
    await page.click("button[type=submit]:has-text('登录')")
    assert "此密钥不能使用稽查工作台" in await page.locator("h1").inner_text()
    await page.goto(f"{console.url}/overview")
    assert "/login" in page.url
    await page.context.close()


async def test_every_read_works_with_javascript_off(browser, console):
    page = await new_page(browser, javascript=False)
    await sign_in(page, console, "INSPECTOR")
    await page.goto(f"{console.url}/flags?rule=R&sort=money")
    assert await page.locator("table.queue tr.HIGH").count() == 4
    link = page.locator("table.queue tr.HIGH a").first
    await link.click()
    assert await page.locator("svg.chain").count() >= 1
    await page.goto(f"{console.url}/lookup")
    await page.fill("input[name=code]", "]d2" + "86000010000000000072")
    await page.click("form[action$='/code'] button")
    assert "86000010000000000072" in await page.locator("h1").inner_text()
    await page.click("nav a:has-text('案件')")
    assert await page.locator("h1").inner_text() == "案件"
    await page.context.close()
