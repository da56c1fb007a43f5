"""The web console's security properties over plain HTTP (httpx), against a real server with auth on:
sessions and cookies, CSRF on every form, sign-in rate limit, roles, escaping, CSP, error pages."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import builders as b
from tests.conftest import _plain, fresh_database, start_service
from tests.integration.test_cases import two_rings
from tracesvc.app.config import Config
from tracesvc.v1 import registry_pb2 as reg

HOSTILE = "<script>alert('xss')</script>\"药店'"
NUMBER = "110101196001010066"  # the ring's buyer (tests/integration/test_reconcile_api.ring)


@dataclass
class Console:
    url: str  # http://127.0.0.1:PORT/console
    db_url: str
    keys: dict[str, str]  # role -> bearer token


@contextlib.asynccontextmanager
async def console_server(pg_admin_url: str, template_db: str, tmp: Path):
    """A server with auth on and the console on, holding two return-drug rings (P2 renamed hostile)."""
    from tracesvc.app.server import database, grpc_server
    from tracesvc.store.keys import create_key

    async with fresh_database(pg_admin_url, template_db) as url:
        key = tmp / "hmac.key"
        key.write_text("5e" * 32)
        config = replace(Config(), database_url=url, data_dir=tmp, hmac_key_file=key, shutdown_grace=5.0, auth=False)
        async with start_service(config) as svc:  # load with auth off, as the other tests do
            await two_rings(svc)
            hostile = reg.Party(
                party_id="P2", kind=reg.PARTY_KIND_PHARMACY, name=HOSTILE, region="110108", licences=[b.licence()]
            )
            await svc.registry.UpsertParties(reg.UpsertPartiesRequest(parties=[hostile]))
        on = replace(config, auth=True)
        async with database(on) as engine, grpc_server(on, engine, "127.0.0.1:0", "127.0.0.1:0") as running:
            keys = {}
            for role, party in (("INSPECTOR", None), ("REGULATOR", None), ("POS", "P1")):
                _, keys[role] = await create_key(engine, role, party, name=f"console-{role.lower()}")
            yield Console(f"http://127.0.0.1:{running.http_port}/console", url, keys)


@pytest.fixture(scope="module")
async def console(pg_admin_url, template_db, tmp_path_factory):
    async with console_server(pg_admin_url, template_db, tmp_path_factory.mktemp("console")) as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def signed_in(console: Console, role: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=console.url, follow_redirects=False, timeout=30)
    page = await client.get("/login")
    answer = await client.post("/login", data={"csrf": csrf_of(page.text), "key": console.keys[role], "next": ""})
    assert answer.status_code == 303, answer.text[:500]
    return client


async def flag_ids(client: httpx.AsyncClient, **params: str) -> list[str]:
    page = await client.get("/flags", params=params)
    assert page.status_code == 200
    return re.findall(r'name="flag_id" value="([^"]+)"', page.text)


async def test_a_session_cookie_is_httponly_strict_and_ends_at_sign_out(console):
    client = await signed_in(console, "INSPECTOR")
    page = await client.get("/overview")
    assert page.status_code == 200 and "总览" in page.text
    login = await httpx.AsyncClient(base_url=console.url).get("/login")
    pre = login.cookies.get("tracesvc_console_pre")
    async with httpx.AsyncClient(base_url=console.url) as fresh:
        fresh.cookies.set("tracesvc_console_pre", pre or "")
        answer = await fresh.post("/login", data={"csrf": pre, "key": console.keys["INSPECTOR"]})
        header = answer.headers["set-cookie"].lower()
        assert "tracesvc_console=" in header and "httponly" in header and "samesite=strict" in header
    token = csrf_of(page.text)
    out = await client.post("/logout", data={"csrf": token})
    assert out.status_code == 303
    after = await client.get("/overview")
    assert after.status_code == 303 and "/login" in after.headers["location"]
    await client.aclose()


async def test_pages_carry_a_csp_without_inline_script(console):
    client = await signed_in(console, "REGULATOR")
    for path in ("/overview", "/flags", "/cases", "/lookup", "/runs"):
        page = await client.get(path)
        assert page.status_code == 200, path
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        scripts = re.findall(r"<script([^>]*)>", page.text)
        assert scripts and all("src=" in s for s in scripts), (path, scripts)
    await client.aclose()


async def test_a_post_without_the_csrf_token_is_refused(console):
    client = await signed_in(console, "REGULATOR")
    ids = await flag_ids(client, rule="R")
    assert ids
    refused = await client.post("/flags/bulk", data={"flag_id": ids[0], "action": "CONFIRMED", "reason": "csrf-less"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = await client.post(
        "/flags/bulk", data={"csrf": "forged", "flag_id": ids[0], "action": "CONFIRMED", "reason": "forged"}
    )
    assert wrong.status_code == 403
    detail = await client.get(f"/flags/{ids[0]}")
    assert "csrf-less" not in detail.text and "forged" not in detail.text
    login = await httpx.AsyncClient(base_url=console.url).post("/login", data={"key": console.keys["REGULATOR"]})
    assert login.status_code == 403  # the sign-in form has its own token
    await client.aclose()


async def test_pos_keys_are_refused_politely_and_inspectors_may_not_review_or_run(console):
    async with httpx.AsyncClient(base_url=console.url) as client:
        page = await client.get("/login")
        answer = await client.post("/login", data={"csrf": csrf_of(page.text), "key": console.keys["POS"]})
        assert answer.status_code == 403 and "POS" in answer.text and "INSPECTOR" in answer.text
        assert "tracesvc_console=" not in answer.headers.get("set-cookie", "")
    client = await signed_in(console, "INSPECTOR")
    ids = await flag_ids(client, rule="R")
    page = await client.get("/flags")
    refused = await client.post(
        "/flags/bulk", data={"csrf": csrf_of(page.text), "flag_id": ids[0], "action": "CONFIRMED", "reason": "no"}
    )
    assert refused.status_code == 403
    assert (await client.get("/runs")).status_code == 403
    await client.aclose()


async def test_hostile_names_and_notes_render_as_text(console):
    client = await signed_in(console, "REGULATOR")
    ids = await flag_ids(client, party="P2")
    page = await client.get("/flags")
    note = "<script>alert(2)</script> \"quoted\" 'single'"
    done = await client.post(
        "/flags/bulk", data={"csrf": csrf_of(page.text), "flag_id": ids[0], "action": "CONFIRMED", "reason": note}
    )
    assert done.status_code == 200
    for path in (f"/flags/{ids[0]}", "/party/P2"):
        html = (await client.get(path)).text
        assert "<script>alert" not in html, path
        assert "&lt;script&gt;alert(" in html, path
    detail = (await client.get(f"/flags/{ids[0]}")).text
    assert "&lt;script&gt;alert(2)&lt;/script&gt; &#34;quoted&#34; &#39;single&#39;" in detail
    await client.aclose()


async def test_all_flags_matching_a_filter_are_reviewed_at_once(console):
    client = await signed_in(console, "REGULATOR")
    listed = await flag_ids(client, rule="L", party="P1")
    assert len(listed) >= 2
    page = await client.get("/flags", params={"rule": "L", "party": "P1"})
    done = await client.post(
        "/flags/bulk",
        data={
            "csrf": csrf_of(page.text),
            "scope": "all",
            "rule": "L",
            "party": "P1",
            "action": "DISMISSED",
            "reason": "供货商补正资质 licence produced",
        },
    )
    assert done.status_code == 200 and f"已审核 {len(listed)} 条线索" in done.text
    assert set(await flag_ids(client, rule="L", party="P1", status="DISMISSED")) == set(listed)
    await client.aclose()


async def test_unknown_ids_are_404_pages_and_bad_forms_400_pages_naming_the_field(console):
    client = await signed_in(console, "REGULATOR")
    for path in ("/flags/no-such-flag", "/cases/CASE-none", "/party/NOBODY-X", "/runs/999999", "/nowhere"):
        page = await client.get(path)
        assert page.status_code == 404 and "<html" in page.text and "Traceback" not in page.text, path
    token = csrf_of((await client.get("/flags")).text)
    big = await client.post("/flags/bulk", data={"csrf": token, "flag_id": "x", "action": "case", "reason": "r" * 3000})
    assert big.status_code == 400 and "reason" in big.text
    bad = await client.get("/flags", params={"min_yuan": "lots"})
    assert bad.status_code == 400 and "min_yuan" in bad.text
    control = await client.post("/cases", data={"csrf": token, "title": "a\x01b", "reason": "r", "suggestion": "x"})
    assert control.status_code == 400 and "title" in control.text
    huge = await client.post(
        "/buyer",
        content=b"csrf=" + token.encode() + b"&number=" + b"1" * 300_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 400 and "body" in huge.text
    code = await client.get("/code", params={"code": "69012345"})
    assert code.status_code == 400 and "code" in code.text
    await client.aclose()


async def test_a_buyer_look_up_hashes_the_number_never_shows_it_and_is_audited(console):
    client = await signed_in(console, "INSPECTOR")
    token = csrf_of((await client.get("/lookup")).text)
    page = await client.post("/buyer", data={"csrf": token, "number": NUMBER})
    assert page.status_code == 200
    assert NUMBER not in page.text
    chains = re.search(r"回流链 \((\d+)\)", page.text)
    assert chains and int(chains.group(1)) >= 2, page.text[:2000]
    conn = await asyncpg.connect(_plain(console.db_url))
    try:
        rows = await conn.fetch("SELECT target, detail FROM audit_log WHERE method = 'ListReturnChains'")
        logs = " ".join(f"{r['target']} {r['detail']}" for r in rows)
    finally:
        await conn.close()
    assert "person lookup by number" in logs and NUMBER not in logs
    await client.aclose()


async def test_the_queue_exports_csv_and_a_scanned_gs1_code_finds_its_history(console):
    client = await signed_in(console, "INSPECTOR")
    csv_file = await client.get("/flags/export.csv", params={"rule": "R"})
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    lines = csv_file.content.decode("utf-8-sig").strip().splitlines()
    assert lines[0].startswith("flag_id,rule,kind") and len(lines) == 1 + 4
    xlsx = await client.get("/flags/export.xlsx", params={"rule": "R"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    # a keyboard-wedge scanner sends the AIM prefix of a 20-digit code too
    page = await client.get("/code", params={"code": "]C1" + b.code(b.STATIN, 71)})
    assert page.status_code == 200 and b.code(b.STATIN, 71) in page.text and "回流" in page.text
    await client.aclose()


async def test_a_case_file_verifies_against_the_case_log_and_its_manifest(console):
    client = await signed_in(console, "INSPECTOR")
    cases = await client.get("/cases")
    key = re.search(r'name="suggestion" value="([^"]+)"', cases.text).group(1)
    opened = await client.post(
        "/cases", data={"csrf": csrf_of(cases.text), "suggestion": key, "title": "", "reason": "立案 opened"}
    )
    assert opened.status_code == 303
    case_url = opened.headers["location"].removeprefix("/console")
    case_id = case_url.rsplit("/", 1)[-1]
    pdf = await client.get(f"{case_url}/file.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    digest = pdf.headers["x-case-file-sha256"]
    token = csrf_of((await client.get(case_url)).text)

    async def verify(content: bytes, manifest: dict | None = None) -> str:
        files = {"file": ("case.pdf", content, "application/pdf")}
        if manifest is not None:
            files["manifest"] = ("case.pdf.manifest.json", json.dumps(manifest).encode(), "application/json")
        page = await client.post(f"{case_url}/verify", data={"csrf": token}, files=files)
        assert page.status_code == 200
        return page.text

    good = {"caseId": case_id, "fileSha256": digest, "fileBytes": str(len(pdf.content))}
    assert "核验通过" in await verify(pdf.content, good)
    assert "核验通过" in await verify(pdf.content)
    assert "与清单不符" in await verify(pdf.content, {**good, "fileBytes": "12"})
    assert "核验未通过" in await verify(pdf.content + b"%")
    bad = await client.post(
        f"{case_url}/verify",
        data={"csrf": token},
        files={"file": ("case.pdf", pdf.content, "application/pdf"), "manifest": ("m.json", b"{", "application/json")},
    )
    assert bad.status_code == 400 and "manifest" in bad.text
    await client.aclose()


async def test_a_flag_page_lists_every_review_not_only_the_last(console):
    client = await signed_in(console, "REGULATOR")
    flag = (await flag_ids(client, rule="R"))[0]
    for action, reason in (("CONFIRMED", "第一次核实 first look"), ("DISMISSED", "复核撤销 second look")):
        page = await client.get("/flags")
        done = await client.post(
            "/flags/bulk", data={"csrf": csrf_of(page.text), "flag_id": flag, "action": action, "reason": reason}
        )
        assert done.status_code == 200
    history = (await client.get(f"/flags/{flag}")).text.split('class="review"')[1].split("</table>")[0]
    assert history.index("第一次核实 first look") < history.index("复核撤销 second look")
    await client.aclose()


async def test_sign_in_attempts_are_rate_limited(console):
    """Last in this module: it locks 127.0.0.1 out of signing in for the window."""
    async with httpx.AsyncClient(base_url=console.url) as client:
        page = await client.get("/login")
        token = csrf_of(page.text)
        statuses = []
        for n in range(7):
            answer = await client.post("/login", data={"csrf": token, "key": f"tsk_bad.{n}"})
            statuses.append(answer.status_code)
        assert statuses[:5] == [401] * 5 and statuses[5] == 429 and "retry-after" in answer.headers
        # the right key is refused too while the limit holds
        answer = await client.post("/login", data={"csrf": token, "key": console.keys["INSPECTOR"]})
        assert answer.status_code == 429


def test_a_session_ends_after_its_idle_time_or_its_absolute_time():
    from tracesvc.console.session import Sessions
    from tracesvc.service.access import Principal, Role

    now = [0.0]
    sessions = Sessions(idle=60, absolute=300, clock=lambda: now[0])
    who = Principal("k1", Role.INSPECTOR)
    idle = sessions.open(who)
    now[0] = 59
    assert sessions.get(idle.sid) is idle  # a request restarts the idle clock
    now[0] = 120
    assert sessions.get(idle.sid) is None
    busy = sessions.open(who)
    for t in range(150, 451, 30):  # busy every 30 s, but not past five minutes from sign-in
        now[0] = t
        alive = sessions.get(busy.sid)
    assert alive is None and now[0] - busy.created > 300


async def test_cookies_are_secure_when_tls_ends_in_front():
    from tracesvc.console.app import ConsoleSettings, build_console

    app = build_console(None, None, ConsoleSettings(auth=False, secure_cookies=True))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console") as client:
        page = await client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        answer = await client.post("/login", data={"csrf": csrf_of(page.text), "key": ""})
        assert answer.status_code == 303 and "secure" in answer.headers["set-cookie"].lower()
