"""The national job's findings go back to the provinces they concern (issue 24, DESIGN.md §6).

Two provinces, each its own tracesvc and database (Beijing, 11; Shanghai, 31), and the national job's
database: a box is sold in Beijing and re-entered and resold in Shanghai — a return chain neither
province can see alone. The provinces export their days to the lake, the national daily run finds the
chain, `export-findings` writes it to both provinces' partitions, and `import-findings` brings it into
each province's database as a NATIONAL flag with its chain, shown over gRPC and in the console. Then:
a second import changes nothing, the province's own run never resolves it (and takes over what it proves
itself, which later imports then leave alone), a review made in a province survives, a later national
resolution arrives as RESOLVED, and an older day imported late rolls nothing back.

Real Spark (local[2], the session shared with the other Spark tests), real embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from reconciler.jobs import Engine, Mode, Reconciler
from reconciler.spark.feedback import NoFindings, export_day, import_day, read_province
from reconciler.spark.job import SparkSettings, execute, export_parquet
from reconciler.spark.lake import DAY_ZONE
from tests.conftest import _plain, fresh_database
from tests.reconcile_helpers import run
from tracesvc import client
from tracesvc.app.config import Config
from tracesvc.documents import fonts
from tracesvc.sim import world
from tracesvc.sim.generate import Simulation
from tracesvc.v1 import enforcement_pb2 as en
from tracesvc.v1 import enforcement_pb2_grpc

pytestmark = pytest.mark.slow

D1, D2, D3 = date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)
BUCKETS = 8
BEIJING, SHANGHAI = "11", "31"


@dataclass
class Node:
    """One tracesvc (a province's, or the national job's) with its database."""

    url: str
    engine: object
    channel: object
    http_port: int
    db: asyncpg.Connection

    @property
    def enforcement(self) -> enforcement_pb2_grpc.EnforcementServiceStub:
        return enforcement_pb2_grpc.EnforcementServiceStub(self.channel)


@contextlib.asynccontextmanager
async def node(pg_admin_url: str, template_db: str, tmp: Path, *, http: bool = False) -> AsyncIterator[Node]:
    from tracesvc.app.server import database, grpc_server

    tmp.mkdir()
    key = tmp / "hmac.key"
    key.write_text("5e" * 32)
    async with fresh_database(pg_admin_url, template_db) as url:
        config = replace(Config(), database_url=url, data_dir=tmp, hmac_key_file=key, shutdown_grace=5.0, auth=False)
        async with (
            database(config) as engine,
            grpc_server(config, engine, "127.0.0.1:0", "127.0.0.1:0" if http else None) as running,
            client.channel(f"127.0.0.1:{running.port}") as ch,
        ):
            await client.upsert_registry(ch, world.registry_records())
            db = await asyncpg.connect(_plain(url))
            try:
                yield Node(url, engine, ch, running.http_port, db)
            finally:
                await db.close()


async def store_on(n: Node, events: list, day: date) -> None:
    """Send events to a province, then date their storage to `day` (the province stored them that day)."""
    mark = await n.db.fetchval("SELECT coalesce(max(event_seq), 0) FROM events")
    acks = await client.stream_events(n.channel, events)
    assert all(a.status in (1, 2) for a in acks), [a.error.message for a in acks if a.status not in (1, 2)]
    noon = datetime.combine(day, time(12), DAY_ZONE)
    await n.db.execute("UPDATE events SET received_at = $1 WHERE event_seq > $2", noon, mark)


def story() -> tuple[str, list, list, list]:
    """Day 1 in Beijing: the box reaches IND-01 and is sold. Day 2 in Shanghai: KY-S1 takes it in from
    WHS-02 and sells it again (the return chain). Day 3 in Beijing: IND-01 refunds its sale, back-dated
    before the re-entry — the box was not out after all, and the national run resolves the chain."""
    sim = Simulation(99, 1)
    t = world.START + timedelta(days=20)
    drug = world.DRUGS[0]
    box = drug.canonical(9_100_000_777)

    def sold(eid, party, at, buyer):
        return sim.sale(
            eid, party, at, buyer, [(drug.insurance_code, drug.name, False, 1, drug.price_fen, [(box, None)])]
        )

    beijing = [
        sim.receipt("nA-w", "WHS-01", "MFR-01", box, t - timedelta(days=2)),
        sim.receipt("nA-r", "IND-01", "WHS-01", box, t - timedelta(days=1)),
        sold("nA-s", "IND-01", t, "110101199001010031"),
    ]
    shanghai = [
        sim.receipt("nA-in", "KY-S1", "WHS-02", box, t + timedelta(days=1)),
        sold("nA-resale", "KY-S1", t + timedelta(days=1, hours=2), "310101199001010032"),
    ]
    refund = [sim.refund("nA-ret", "IND-01", "nA-s", box, t + timedelta(hours=20))]
    return box, beijing, shanghai, refund


def reconciler_cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args, "--quiet"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=300,
        check=False,
    )


async def test_export_findings_without_a_finished_daily_run_says_so_in_one_line(db_url, tmp_path):
    done = await asyncio.to_thread(reconciler_cli, db_url, "export-findings", str(tmp_path), "--day", "2026-07-02")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "reconciler export-findings: LookupError: no finished daily Spark run of 2026-07-02 in this database "
        "(TRACESVC_DEBUG=1 shows the traceback)"
    ]


async def case_file_names_the_events_held_elsewhere(n: Node, flag_id: str, tmp: Path) -> None:
    opened = await n.enforcement.CreateCase(
        en.CreateCaseRequest(
            title="跨省回流 cross-province return",
            reason="全国核查线索 national finding",
            members=[en.CaseMemberRef(kind=en.CASE_MEMBER_KIND_FLAG, ref=flag_id)],
        )
    )
    chunks = []
    async for item in n.enforcement.ExportCase(en.ExportCaseRequest(case_id=opened.case.case_id)):
        if item.WhichOneof("item") == "chunk":
            chunks.append(item.chunk)
    pdf = tmp / "case.pdf"
    pdf.write_bytes(b"".join(chunks))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", " ", text)
    assert "全国核查 National" in flat and "nA-s" in flat and "held by another province" in flat


async def province_flags(n: Node) -> dict[str, tuple]:
    rows = await n.db.fetch("SELECT * FROM flags ORDER BY flag_id")
    return {r["flag_id"]: tuple(r) for r in rows}


async def test_national_findings_reach_the_provinces_they_concern(pg_admin_url, template_db, spark, tmp_path):
    lake = str(tmp_path / "lake")
    box, beijing_events, shanghai_events, refund = story()

    async def export(n: Node, day: date, province: str) -> None:
        await asyncio.to_thread(export_parquet, spark, n.url, lake, BUCKETS, day=day, province=province)

    async def daily(n: Node, day: date) -> None:
        info = await Reconciler(n.engine).start(Mode.INCREMENTAL, engine=Engine.SPARK, day=day)
        await execute(n.engine, info.run_id, SparkSettings(buckets=BUCKETS, from_parquet=lake), spark)

    async with (
        node(pg_admin_url, template_db, tmp_path / "bj") as bj,
        node(pg_admin_url, template_db, tmp_path / "sh", http=True) as sh,
        node(pg_admin_url, template_db, tmp_path / "nation") as nation,
    ):
        await store_on(bj, beijing_events, D1)
        await export(bj, D1, BEIJING)
        await store_on(sh, shanghai_events, D2)
        await export(sh, D2, SHANGHAI)

        with pytest.raises(NoFindings):  # nothing exported yet: said plainly
            await asyncio.to_thread(read_province, spark, lake, D2, SHANGHAI)

        # the national daily run finds the chain across the two provinces, and sends it to both
        await daily(nation, D2)
        chain_flag = await nation.db.fetchval(
            "SELECT flag_id FROM flags WHERE rule = 'R' AND kind = 'REENTRY' AND decisive_event_id = 'nA-in'"
        )
        assert chain_flag is not None
        out = await export_day(nation.engine, spark, lake, D2, None)
        assert {BEIJING, SHANGHAI} <= set(out.provinces) and out.unplaced == 0

        # Shanghai imports: the chain arrives as NATIONAL, with its chain
        read, first = await import_day(sh.engine, spark, lake, D2, SHANGHAI)
        assert read == out.provinces[SHANGHAI] == first.new
        assert (first.refreshed, first.resolved, first.already_local, first.unchanged) == (0, 0, 0, 0)
        row = await sh.db.fetchrow(
            "SELECT origin, status, detected_run, national_run, evidence FROM flags WHERE flag_id = $1", chain_flag
        )
        assert (row["origin"], row["status"], row["detected_run"]) == ("NATIONAL", "OPEN", 0)
        assert "nA-s" in row["evidence"]  # an event only Beijing holds
        chain = await sh.db.fetchrow(
            "SELECT active, original_sellers, reentry_party, reentry_supplier, resale_parties FROM return_chains "
            "WHERE flag_id = $1",
            chain_flag,
        )
        assert tuple(chain) == (True, ["IND-01"], "KY-S1", "WHS-02", ["KY-S1"])

        # importing the same day again changes nothing
        before = await province_flags(sh)
        _, again = await import_day(sh.engine, spark, lake, D2, SHANGHAI)
        assert (again.new, again.refreshed, again.resolved) == (0, 0, 0)
        assert again.unchanged == first.new and again.already_local == 0
        assert await province_flags(sh) == before

        # a person in Shanghai sees it like any flag: ListFlags, GetFlag, the console page
        listed = await sh.enforcement.ListFlags(en.ListFlagsRequest(rule="R", page_size=50))
        shown = {f.flag_id: f for f in listed.flags}
        assert shown[chain_flag].origin == "NATIONAL" and shown[chain_flag].detected_run == 0
        got = await sh.enforcement.GetFlag(en.GetFlagRequest(flag_id=chain_flag))
        assert got.flag.origin == "NATIONAL" and "nA-s" in got.flag.evidence_event_ids
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sh.http_port}/console", timeout=30) as web:
            login = await web.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
            assert csrf is not None
            signed = await web.post("/login", data={"csrf": csrf.group(1), "key": "any", "next": ""})
            assert signed.status_code == 303, signed.text[:300]
            page = await web.get(f"/flags/{chain_flag}")
            assert page.status_code == 200, page.text[:500]
            assert "全国核查 National" in page.text
            held_elsewhere = page.text.split('class="elsewhere"')
            assert len(held_elsewhere) == 2 and "nA-s" in held_elsewhere[1] and "held by another province" in page.text
            listing = await web.get("/flags", params={"rule": "R"})
            assert listing.status_code == 200 and "全国核查 National" in listing.text

        if fonts.available() and shutil.which("pdftotext"):  # the case file too (.ci/run installs both)
            await case_file_names_the_events_held_elsewhere(sh, chain_flag, tmp_path)

        # Shanghai's own run never resolves it (it lacks Beijing's sale, and finds no chain itself); what it
        # proves from its own events (the re-entry from a supplier that never held the box) it takes over
        own = await run(sh.engine, Mode.FULL)
        assert own.flags_resolved == 0
        row = await sh.db.fetchrow("SELECT status, origin FROM flags WHERE flag_id = $1", chain_flag)
        assert tuple(row) == ("OPEN", "NATIONAL")
        taken = await sh.db.fetch("SELECT flag_id, detected_run FROM flags WHERE origin = 'LOCAL' AND national_run > 0")
        assert taken and {r["detected_run"] for r in taken} == {own.run_id}
        local_one = taken[0]["flag_id"]
        assert (await sh.enforcement.GetFlag(en.GetFlagRequest(flag_id=local_one))).flag.origin == "LOCAL"
        before = await province_flags(sh)
        _, after_own = await import_day(sh.engine, spark, lake, D2, SHANGHAI)
        assert (after_own.new, after_own.refreshed, after_own.resolved) == (0, 0, 0)
        assert after_own.already_local == len(taken) and after_own.unchanged == first.new - len(taken)
        assert await province_flags(sh) == before

        # had Shanghai's own run resolved that one (no longer provable from its events alone), the nation,
        # which still finds it, reopens it as NATIONAL; Shanghai's next run then leaves it standing
        await sh.db.execute(  # as if its run had resolved it before this national state reached it
            """UPDATE flags SET status = 'RESOLVED', resolved_at = now(), resolved_reason = 'run 9: no longer holds',
                                national_updated_at = national_updated_at - interval '1 day'
               WHERE flag_id = $1""",
            local_one,
        )
        _, reopening = await import_day(sh.engine, spark, lake, D2, SHANGHAI)
        assert (reopening.reopened, reopening.new, reopening.resolved) == (1, 0, 0)
        row = await sh.db.fetchrow("SELECT status, origin, resolved_reason FROM flags WHERE flag_id = $1", local_one)
        assert tuple(row) == ("OPEN", "NATIONAL", None)
        assert (await run(sh.engine, Mode.FULL)).flags_resolved == 0

        # Beijing imports it too (with the command, as a province's job would), and reviews it
        done = await asyncio.to_thread(
            reconciler_cli, bj.url, "import-findings", lake, "--day", D2.isoformat(), "--province", BEIJING
        )
        assert done.returncode == 0, done.stderr[-2000:]
        summary = re.search(r"(\d+) new, 0 refreshed, 0 resolved, (\d+) already local, 0 unchanged", done.stdout)
        assert summary is not None and int(summary.group(1)) >= 1, done.stdout
        assert await bj.db.fetchval("SELECT origin FROM flags WHERE flag_id = $1", chain_flag) == "NATIONAL"
        reviewed = await bj.enforcement.ReviewFlag(
            en.ReviewFlagRequest(flag_id=chain_flag, decision=en.REVIEW_DECISION_CONFIRM, note="核实 verified")
        )
        assert reviewed.flag.status == en.FLAG_STATUS_CONFIRMED and reviewed.flag.origin == "NATIONAL"

        # day 3: Beijing's refund reaches the lake; the national run resolves the chain
        await store_on(bj, refund, D3)
        await export(bj, D3, BEIJING)
        await daily(nation, D3)
        assert await nation.db.fetchval("SELECT status FROM flags WHERE flag_id = $1", chain_flag) == "RESOLVED"
        out3 = await export_day(nation.engine, spark, lake, D3, None)
        assert {BEIJING, SHANGHAI} <= set(out3.provinces)

        _, sh3 = await import_day(sh.engine, spark, lake, D3, SHANGHAI)
        assert sh3.resolved >= 1
        row = await sh.db.fetchrow("SELECT status, resolved_reason, origin FROM flags WHERE flag_id = $1", chain_flag)
        assert row["status"] == "RESOLVED" and row["origin"] == "NATIONAL"
        assert row["resolved_reason"].startswith("national run")
        assert not await sh.db.fetchval("SELECT active FROM return_chains WHERE flag_id = $1", chain_flag)

        # Beijing's review survives the national resolution
        _, bj3 = await import_day(bj.engine, spark, lake, D3, BEIJING)
        assert bj3.refreshed >= 1
        assert await bj.db.fetchval("SELECT status FROM flags WHERE flag_id = $1", chain_flag) == "CONFIRMED"

        # an older day imported late rolls nothing back
        settled = await province_flags(sh)
        _, late = await import_day(sh.engine, spark, lake, D2, SHANGHAI)
        assert (late.new, late.refreshed, late.resolved) == (0, 0, 0)
        assert await province_flags(sh) == settled

        # a day's export again replaces it whole (the same findings, not twice as many)
        again3 = await export_day(nation.engine, spark, lake, D3, None)
        assert again3.provinces == out3.provinces
        assert len(await asyncio.to_thread(read_province, spark, lake, D3, SHANGHAI)) == out3.provinces[SHANGHAI]
        assert not any((tmp_path / "lake" / "_staging").iterdir())
