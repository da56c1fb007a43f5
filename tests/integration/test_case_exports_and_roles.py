"""Flags and cases exported as CSV and XLSX through the CLI; who may work cases; case reads audited."""

from __future__ import annotations

import csv
from pathlib import Path

import grpc
from openpyxl import load_workbook

from tests.integration.test_auth import secured  # noqa: F401  (fixture)
from tests.integration.test_cases import enf, status_of, two_rings
from tests.integration.test_cli import cli
from tracesvc.client import bearer
from tracesvc.v1 import enforcement_pb2 as en

DENIED = grpc.StatusCode.PERMISSION_DENIED


async def test_flags_and_cases_export_as_csv_and_xlsx(service, tmp_path: Path):
    await two_rings(service)
    stub = enf(service)
    flags = (await stub.ListFlags(en.ListFlagsRequest(page_size=1000))).flags
    first = (await stub.SuggestCases(en.SuggestCasesRequest())).suggestions[0]
    case = (await stub.CreateCase(first.proposal)).case
    await stub.CreateCase(en.CreateCaseRequest(title='=HYPERLINK("x") 药店', reason="r"))

    out_csv, out_xlsx = tmp_path / "flags.csv", tmp_path / "flags.xlsx"
    for out, fmt in ((out_csv, "csv"), (out_xlsx, "xlsx")):
        done = await cli("flags", "export", "--format", fmt, "--out", str(out), "--target", service.target)
        assert done.returncode == 0, done.stderr
        assert f"exported {len(flags)} flags" in done.stderr
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8-sig")))
    assert sorted(r["flag_id"] for r in rows) == sorted(f.flag_id for f in flags)
    by_id = {r["flag_id"]: r for r in rows}
    for f in flags:
        assert (by_id[f.flag_id]["rule"], by_id[f.flag_id]["kind"], int(by_id[f.flag_id]["money_fen"])) == (
            f.rule,
            f.kind,
            f.money_fen,
        )
        assert by_id[f.flag_id]["case_id"] == (case.case_id if f.flag_id in first.flag_ids else "")
    sheet = load_workbook(out_xlsx, read_only=True)["flags"]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0][:3] == ["flag_id", "rule", "kind"] and len(table) == len(flags) + 1
    assert sorted(r[0] for r in table[1:]) == sorted(f.flag_id for f in flags)

    cases_xlsx, cases_csv = tmp_path / "cases.xlsx", tmp_path / "cases.csv"
    for out, fmt in ((cases_xlsx, "xlsx"), (cases_csv, "csv")):
        done = await cli("case", "list", "--format", fmt, "--out", str(out), "--target", service.target)
        assert done.returncode == 0 and "exported 2 cases" in done.stderr, done.stderr
    sheet = load_workbook(cases_xlsx, read_only=True)["cases"]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert [r[0] for r in table[1:]][0] == case.case_id and table[1][2] == "OPEN" and table[1][7] == case.money_fen
    assert table[2][1] == '\'=HYPERLINK("x") 药店'  # never a live formula
    assert [r["title"] for r in csv.DictReader(cases_csv.open(encoding="utf-8-sig"))][1].startswith("'=")


async def test_inspectors_and_regulators_work_cases_pos_and_suppliers_see_none(secured, raw_db):  # noqa: F811
    svc, keys = secured
    stub = enf(svc)
    create = en.CreateCaseRequest(title="t", reason="r")
    for who in ("pos_p1", "pos_chain", "supplier"):
        md = bearer(keys[who])
        assert await status_of(stub.CreateCase(create, metadata=md)) == DENIED
        assert await status_of(stub.ListCases(en.ListCasesRequest(), metadata=md)) == DENIED
        assert await status_of(stub.GetCase(en.GetCaseRequest(case_id="x"), metadata=md)) == DENIED
        assert await status_of(stub.SuggestCases(en.SuggestCasesRequest(), metadata=md)) == DENIED
        assert await status_of(stub.ExportCase(en.ExportCaseRequest(case_id="x"), metadata=md).read()) == DENIED
    inspector, regulator = bearer(keys["inspector"]), bearer(keys["regulator"])
    cid = (await stub.CreateCase(create, metadata=inspector)).case.case_id
    moved = await stub.UpdateCase(
        en.UpdateCaseRequest(case_id=cid, status=en.CASE_STATUS_INVESTIGATING, reason="go"), metadata=regulator
    )
    assert [(e.role, e.action) for e in moved.case.log] == [("INSPECTOR", "CREATED"), ("REGULATOR", "STATUS")]
    assert (await stub.GetCase(en.GetCaseRequest(case_id=cid), metadata=inspector)).case.case_id == cid
    assert await status_of(stub.ListCases(en.ListCasesRequest(), metadata=inspector)) is None
    assert await status_of(stub.SuggestCases(en.SuggestCasesRequest(), metadata=inspector)) is None
    # a bulk review is a review: the regulator's, like ReviewFlag
    review = en.ReviewFlagsRequest(flag_ids=["x"], decision=en.REVIEW_DECISION_CONFIRM, note="n")
    assert await status_of(stub.ReviewFlags(review, metadata=inspector)) == DENIED
    assert await status_of(stub.ReviewFlags(review, metadata=regulator)) is None
    audit = await raw_db.fetch("SELECT role, method, target FROM audit_log ORDER BY audit_id")
    assert [(r["method"], r["target"]) for r in audit if r["method"] in ("GetCase", "ListCases", "SuggestCases")] == [
        ("GetCase", f"case:{cid}"),
        ("ListCases", "cases"),
        ("SuggestCases", "flags"),
    ]


async def test_the_readme_walk_through_on_the_command_line(service):
    await two_rings(service)
    target = ("--target", service.target)
    listed = await cli("case", "suggest", *target)
    assert listed.returncode == 0 and "  1. RING" in listed.stdout, listed.stdout + listed.stderr
    opened = await cli("case", "open", "--suggestion", "1", "--title", "回流药团伙", "--assignee", "王", *target)
    assert opened.returncode == 0, opened.stderr
    case_id = opened.stdout.split()[0]
    assert case_id.startswith("CASE-") and "OPEN  回流药团伙" in opened.stdout and "assignee 王" in opened.stdout
    moved = await cli("case", "move", case_id, "INVESTIGATING", "--reason", "现场检查", *target)
    assert moved.returncode == 0 and "OPEN→INVESTIGATING: 现场检查" in moved.stdout, moved.stdout + moved.stderr
    refused = await cli("case", "move", case_id, "OPEN", "--reason", "x", *target)
    assert refused.returncode == 1 and "FAILED_PRECONDITION" in refused.stderr
    shown = await cli("case", "show", case_id, *target)
    assert shown.returncode == 0 and "INVESTIGATING  回流药团伙" in shown.stdout
