"""Issue 23: case work through the API and the CLI — officers by name in the log, each case's log
numbered 1, 2, 3…, closing reviews the case's flags in one step, retitle/reassign/note/deadline with
overdue cases listed, attachments with their digests in the manifest, ListFlags by case, ListCases by
window and text, reads audited for regulators, the small contract faults."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from openpyxl import load_workbook

from tests.conftest import start_service
from tests.integration.test_auth import secured  # noqa: F401  (fixture)
from tests.integration.test_cases import FLAG, enf, status_of, two_rings
from tests.integration.test_cli import cli
from tests.integration.test_reconcile_api import ring
from tests.reconcile_helpers import run
from tracesvc.client import bearer
from tracesvc.client.wire import to_timestamp
from tracesvc.documents import fonts
from tracesvc.store.keys import split_token
from tracesvc.v1 import enforcement_pb2 as en

INVALID, DENIED, FAILED = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.FAILED_PRECONDITION,
)


def _key_id(token: str) -> str:
    parts = split_token(token)
    assert parts is not None
    return parts[0]


async def test_officers_by_name_in_the_log_numbered_per_case_and_reads_audited(
    secured,  # noqa: F811
    raw_db,
):
    svc, keys = secured
    for who, name, cert, title in (
        ("inspector", "张三", "11010020230001", "承办人"),
        ("regulator", "李四", "11010020230002", "审核人"),
    ):
        bound = await cli(
            "case",
            "officer",
            _key_id(keys[who]),
            "--name",
            name,
            "--cert",
            cert,
            "--title",
            title,
            "--target",
            svc.target,
            "--key",
            keys["regulator"],
        )
        assert bound.returncode == 0 and name in bound.stdout, bound.stdout + bound.stderr
    missing = await cli(
        "case", "officer", "nosuchkey", "--name", "x", "--cert", "1", "--target", svc.target, "--key", keys["regulator"]
    )
    assert missing.returncode == 5, missing.stderr
    refused = await cli(
        "case",
        "officer",
        _key_id(keys["inspector"]),
        "--name",
        "x",
        "--cert",
        "1",
        "--target",
        svc.target,
        "--key",
        keys["inspector"],
    )
    assert refused.returncode == 4  # binding officers is the regulator's
    stub = enf(svc)
    inspector, regulator = bearer(keys["inspector"]), bearer(keys["regulator"])
    # two cases worked in turn: each log counts 1, 2, 3… on its own; the global order stays beside it
    a = (await stub.CreateCase(en.CreateCaseRequest(title="甲", reason="线索"), metadata=inspector)).case.case_id
    c = (await stub.CreateCase(en.CreateCaseRequest(title="乙", reason="线索"), metadata=inspector)).case.case_id
    for cid in (a, c, a):
        await stub.UpdateCase(en.UpdateCaseRequest(case_id=cid, reason="记录 note", note_only=True), metadata=regulator)
    await stub.UpdateCase(
        en.UpdateCaseRequest(case_id=a, status=en.CASE_STATUS_INVESTIGATING, reason="现场检查"), metadata=regulator
    )
    log_a = (await stub.GetCase(en.GetCaseRequest(case_id=a), metadata=inspector)).case.log
    log_c = (await stub.GetCase(en.GetCaseRequest(case_id=c), metadata=regulator)).case.log
    assert [e.seq for e in log_a] == [1, 2, 3, 4] and [e.seq for e in log_c] == [1, 2]
    assert [e.action for e in log_a] == ["CREATED", "NOTE", "NOTE", "STATUS"]
    globals_a = [e.global_seq for e in log_a]
    assert globals_a == sorted(globals_a) and globals_a[-1] - globals_a[0] > 3  # gaps only in the global order
    assert [(e.officer_name, e.officer_cert, e.role) for e in log_a[:2]] == [
        ("张三", "11010020230001", "INSPECTOR"),
        ("李四", "11010020230002", "REGULATOR"),
    ]
    shown = await cli("case", "show", a, "--target", svc.target, "--key", keys["inspector"])
    assert shown.returncode == 0, shown.stderr
    assert "log #1 " in shown.stdout and "张三 (执法证号 11010020230001, INSPECTOR) CREATED" in shown.stdout
    assert "Asia/Shanghai" in shown.stdout and "Z " not in shown.stdout
    # every read of a case, readable back by a regulator (not by an inspector), officers named
    reads = (await stub.ListCaseReads(en.ListCaseReadsRequest(case_id=a), metadata=regulator)).reads
    assert [(r.method, r.officer_name, r.role) for r in reads] == [("GetCase", "张三", "INSPECTOR")] * 2  # API, CLI
    assert await status_of(stub.ListCaseReads(en.ListCaseReadsRequest(case_id=a), metadata=inspector)) == DENIED
    listed = await cli("case", "reads", a, "--target", svc.target, "--key", keys["regulator"])
    assert listed.returncode == 0 and "GetCase" in listed.stdout and "张三" in listed.stdout
    # closing with a flag review is the regulator's
    closing = en.UpdateCaseRequest(
        case_id=a, status=en.CASE_STATUS_CLOSED_DISMISSED, reason="不属实", review_flags=True
    )
    assert await status_of(stub.UpdateCase(closing, metadata=inspector)) == DENIED
    # no API key secret in the case log
    dump = json.dumps([dict(r) for r in await raw_db.fetch("SELECT * FROM case_log")], default=str)
    assert keys["inspector"] not in dump


async def test_closing_confirmed_reviews_the_case_flags_in_one_logged_step(service, raw_db):
    await ring(service)
    await run(service.engine)
    stub = enf(service)
    flags = (
        await stub.ListFlags(
            en.ListFlagsRequest(code=(await stub.ListFlags(en.ListFlagsRequest(rule="R"))).flags[0].code)
        )
    ).flags
    other = [
        f.flag_id
        for f in (await stub.ListFlags(en.ListFlagsRequest())).flags
        if f.flag_id not in {x.flag_id for x in flags}
    ]
    case = (
        await stub.CreateCase(
            en.CreateCaseRequest(
                title="box 71", reason="r", members=[en.CaseMemberRef(kind=FLAG, ref=f.flag_id) for f in flags]
            )
        )
    ).case
    # a status number the contract does not define is an invalid argument, not a failed precondition
    assert (
        await status_of(stub.UpdateCase(en.UpdateCaseRequest(case_id=case.case_id, status=99, reason="x"))) == INVALID
    )
    assert (
        await status_of(
            stub.UpdateCase(
                en.UpdateCaseRequest(
                    case_id=case.case_id, status=en.CASE_STATUS_INVESTIGATING, reason="x", review_flags=True
                )
            )
        )
        == INVALID
    )  # a review goes with closing
    await stub.UpdateCase(en.UpdateCaseRequest(case_id=case.case_id, status=en.CASE_STATUS_INVESTIGATING, reason="查"))
    before = await cli("case", "flags", case.case_id, "--target", service.target)
    assert before.returncode == 0 and before.stdout.count("待处理 open") == len(flags), before.stdout + before.stderr
    moved = await cli(
        "case",
        "move",
        case.case_id,
        "CLOSED_CONFIRMED",
        "--reason",
        "供货商无证，回流属实",
        "--review-flags",
        "--target",
        service.target,
    )
    assert moved.returncode == 0, moved.stderr
    got = await stub.GetCase(en.GetCaseRequest(case_id=case.case_id))
    assert {f.status for f in got.flags} == {en.FLAG_STATUS_CONFIRMED}
    assert {f.review_note for f in got.flags} == {"供货商无证，回流属实"}
    assert [(e.action, e.reason) for e in got.case.log[-2:]] == [
        ("STATUS", "供货商无证，回流属实"),
        ("REVIEWED", "供货商无证，回流属实"),
    ]
    assert got.case.log[-1].detail == f"CONFIRMED {len(flags)} flags of the case"
    audit = await raw_db.fetch("SELECT target FROM audit_log WHERE method = 'UpdateCase'")
    assert sorted(r["target"] for r in audit) == sorted(f"flag:{f.flag_id}" for f in flags)
    # flags outside the case are untouched
    rest = {f.flag_id: f.status for f in (await stub.ListFlags(en.ListFlagsRequest(page_size=1000))).flags}
    assert all(rest[i] == en.FLAG_STATUS_OPEN for i in other)
    # ListFlags by case, through the API and the CLI
    by_case = (
        await stub.ListFlags(en.ListFlagsRequest(case_id=case.case_id, statuses=[en.FLAG_STATUS_CONFIRMED]))
    ).flags
    assert sorted(f.flag_id for f in by_case) == sorted(f.flag_id for f in flags)
    reads = (await stub.ListCaseReads(en.ListCaseReadsRequest(case_id=case.case_id))).reads
    assert "ListFlags" in {r.method for r in reads}  # the flags of a case are a read of the case
    shown = await cli("case", "flags", case.case_id, "--target", service.target)
    assert shown.returncode == 0 and shown.stdout.count("已确认 confirmed") == len(flags), shown.stdout
    # The ring's original buyer (110101196001010066) stands behind these flags: never by number here.
    tables = ("cases", "case_members", "case_log", "case_attachments", "officers")
    dump = json.dumps([[dict(r) for r in await raw_db.fetch(f"SELECT * FROM {t}")] for t in tables], default=str)
    assert "110101196001010066" not in dump


async def test_retitle_reassign_note_deadline_attachments_and_case_search(service, config, tmp_path: Path):
    await two_rings(service)
    stub = enf(service)
    target = ("--target", service.target)
    first = (await stub.SuggestCases(en.SuggestCasesRequest())).suggestions[0]
    cid = (await stub.CreateCase(first.proposal)).case.case_id
    later = (await stub.CreateCase(en.CreateCaseRequest(title="药店 P9 串换", reason="举报 tip-off"))).case.case_id
    edited = await cli(
        "case",
        "edit",
        cid,
        "--title",
        "回流药团伙 DEALER",
        "--assignee",
        "王五",
        "--deadline",
        "2026-01-31",
        "--reason",
        "分案 reassigned",
        *target,
    )
    assert edited.returncode == 0, edited.stderr
    assert "OVERDUE" in edited.stdout and "2026-01-31 23:59:59 Asia/Shanghai" in edited.stdout
    noted = await cli("case", "note", cid, "已约谈药店负责人 interviewed the manager", *target)
    assert noted.returncode == 0, noted.stderr
    record = tmp_path / "现场检查笔录.pdf"
    record.write_bytes(b"%PDF-1.4 inspection record " + bytes(range(256)))
    attached = await cli(
        "case",
        "attach",
        cid,
        str(record),
        "--kind",
        "INSPECTION_RECORD",
        "--description",
        "现场检查笔录",
        "--reason",
        "现场检查",
        *target,
    )
    assert attached.returncode == 0, attached.stderr
    got = (await stub.GetCase(en.GetCaseRequest(case_id=cid))).case
    assert got.title == "回流药团伙 DEALER" and got.assignee == "王五" and got.overdue
    actions = [e.action for e in got.log]
    assert actions[-5:] == ["TITLE", "ASSIGNED", "DEADLINE", "NOTE", "ATTACHED"]
    assert got.log[-5].detail.endswith("→ 回流药团伙 DEALER")
    digest = hashlib.sha256(record.read_bytes()).hexdigest()
    (att,) = got.attachments
    assert (att.kind, att.file_name, att.sha256, att.size) == (
        "INSPECTION_RECORD",
        record.name,
        digest,
        record.stat().st_size,
    )
    assert (
        await status_of(
            stub.AddCaseAttachment(en.AddCaseAttachmentRequest(case_id=cid, file_name="../x", content=b"x", reason="r"))
        )
        == INVALID
    )
    # overdue cases listed; a case list by window and by words
    overdue = (await stub.ListCases(en.ListCasesRequest(overdue=True))).cases
    assert [c.case_id for c in overdue] == [cid]
    listed = await cli("case", "list", "--overdue", *target)
    assert listed.returncode == 0 and cid in listed.stdout and later not in listed.stdout
    assert [c.case_id for c in (await stub.ListCases(en.ListCasesRequest(text="串换"))).cases] == [later]
    assert [c.case_id for c in (await stub.ListCases(en.ListCasesRequest(text="interviewed"))).cases] == [cid]
    now = datetime.now(UTC)
    window = en.ListCasesRequest(
        created_from=to_timestamp(now - timedelta(hours=1)), created_to=to_timestamp(now + timedelta(hours=1))
    )
    assert [c.case_id for c in (await stub.ListCases(window)).cases] == [cid, later]
    past = en.ListCasesRequest(created_to=to_timestamp(now - timedelta(days=1)))
    assert not (await stub.ListCases(past)).cases
    # the attachment is in the case file's manifest with its digest, and the file verifies against the store
    if fonts.available():
        out = tmp_path / "case.pdf"
        done = await cli("case", "file", cid, "--out", str(out), *target)
        assert done.returncode == 0, done.stderr
        manifest = json.loads(Path(f"{out}.manifest.json").read_text())
        assert {"kind": "attachment", "id": att.attachment_id, "sha256": digest} in manifest["entries"]
        ok = await cli("case", "verify", str(out), "--store", env={"DATABASE_URL": config.database_url})
        assert ok.returncode == 0, ok.stdout + ok.stderr
    # a closed case takes a note, but no other change
    await stub.UpdateCase(en.UpdateCaseRequest(case_id=later, status=en.CASE_STATUS_CLOSED_DISMISSED, reason="无"))
    assert await status_of(stub.UpdateCase(en.UpdateCaseRequest(case_id=later, title="t", reason="r"))) == FAILED
    assert await status_of(stub.UpdateCase(en.UpdateCaseRequest(case_id=later, note_only=True, reason="r"))) is None
    assert await status_of(stub.UpdateCase(en.UpdateCaseRequest(case_id=later, reason="r"))) == INVALID  # no change


async def test_flags_export_names_the_buyer_and_reads_in_chinese(service, tmp_path: Path):
    from tests.integration.test_buyer_suspects_and_evidence import _story

    await _story(service)
    flags = (await enf(service).ListFlags(en.ListFlagsRequest(page_size=1000))).flags
    b_flags = [f for f in flags if f.rule == "B"]
    assert b_flags
    out_csv, out_xlsx = tmp_path / "flags.csv", tmp_path / "flags.xlsx"
    for out, fmt in ((out_csv, "csv"), (out_xlsx, "xlsx")):
        done = await cli("flags", "export", "--format", fmt, "--out", str(out), "--target", service.target)
        assert done.returncode == 0, done.stderr
    rows = {r["flag_id"]: r for r in csv.DictReader(out_csv.open(encoding="utf-8-sig"))}
    for f in b_flags:
        assert rows[f.flag_id]["buyer_token"] == f.buyer_token and len(f.buyer_token) == 64
    over = next(f for f in b_flags if f.kind == "OVER_SUPPLY")
    assert rows[over.flag_id]["kind_zh"] == "B 超量购药 OVER_SUPPLY"
    assert rows[over.flag_id]["finding"].startswith("B 超量购药 OVER_SUPPLY：该参保人")
    assert rows[over.flag_id]["status_zh"] == "待处理 open"
    assert {r["subject_region_name"] for r in rows.values() if r["subject_region"] == "110108"} == {"北京市海淀区"}
    assert rows[over.flag_id]["decisive_at"].endswith("+00:00")  # UTC for machines ...
    assert rows[over.flag_id]["decisive_at_shanghai"].endswith("Asia/Shanghai")  # ... Asia/Shanghai for people
    sheet = load_workbook(out_xlsx, read_only=True)["flags"]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    column = table[0].index("buyer_token")
    assert {r[0]: r[column] for r in table[1:]}[over.flag_id] == over.buyer_token


async def test_without_the_cjk_font_health_says_so_and_export_case_is_a_failed_precondition(
    config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TRACESVC_CJK_FONT_DIR", str(tmp_path / "no-fonts"))
    async with start_service(dataclasses.replace(config)) as svc:
        health = health_pb2_grpc.HealthStub(svc.channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(service="tracesvc.v1.EnforcementService"))
        assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
        overall = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert overall.status == health_pb2.HealthCheckResponse.SERVING  # the rest of the service serves
        cid = (await enf(svc).CreateCase(en.CreateCaseRequest(title="t", reason="r"))).case.case_id
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in enf(svc).ExportCase(en.ExportCaseRequest(case_id=cid)):
                pass
        assert info.value.code() == FAILED and "fonts-noto-cjk" in (info.value.details() or "")


async def test_log_numbers_stay_one_per_line_under_concurrent_work(service):
    import asyncio

    stub = enf(service)
    cid = (await stub.CreateCase(en.CreateCaseRequest(title="并发", reason="r"))).case.case_id
    await asyncio.gather(
        *(stub.UpdateCase(en.UpdateCaseRequest(case_id=cid, note_only=True, reason=f"note {n}")) for n in range(12))
    )
    log = (await stub.GetCase(en.GetCaseRequest(case_id=cid))).case.log
    assert [e.seq for e in log] == list(range(1, 14))
    assert [e.global_seq for e in log] == sorted(e.global_seq for e in log)


async def test_migration_numbers_the_log_lines_written_before_it(service, raw_db):
    from alembic import command

    from tracesvc.store.db import alembic_config

    stub = enf(service)
    first = (await stub.CreateCase(en.CreateCaseRequest(title="a", reason="r"))).case.case_id
    second = (await stub.CreateCase(en.CreateCaseRequest(title="b", reason="r"))).case.case_id
    for cid in (first, second, first):
        await stub.UpdateCase(en.UpdateCaseRequest(case_id=cid, note_only=True, reason="n"))

    async def alembic(verb: str, revision: str) -> None:
        async with service.engine.begin() as conn:
            await conn.run_sync(lambda c: getattr(command, verb)(alembic_config(c), revision))

    await alembic("downgrade", "0010_named_values")
    assert not await raw_db.fetchval(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'case_log' AND column_name = 'case_no'"
    )
    await alembic("upgrade", "head")
    rows = await raw_db.fetch("SELECT case_id, case_no FROM case_log ORDER BY log_seq")
    assert [(r["case_id"], r["case_no"]) for r in rows] == [
        (first, 1),
        (second, 1),
        (first, 2),
        (second, 2),
        (first, 3),
    ]
    with pytest.raises(asyncpg.PostgresError, match="append-only"):  # the trigger is back on
        await raw_db.execute("UPDATE case_log SET reason = 'x'")
    # A line the previous release writes during a rolling update (no number: the default 0) is numbered
    # by the database, next in its case.
    await raw_db.execute(
        "INSERT INTO case_log (case_id, actor, role, action, reason, detail) "
        "VALUES ($1, 'k', 'INSPECTOR', 'NOTE', 'n', '')",
        second,
    )
    assert await raw_db.fetchval("SELECT max(case_no) FROM case_log WHERE case_id = $1", second) == 3
    assert not await raw_db.fetchval("SELECT count(*) FROM case_log WHERE case_no = 0")
