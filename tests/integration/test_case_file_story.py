"""Issue 23: a case file that stands in court, read back with pdftotext: one story per box citing every
flag it supports, findings in Chinese first, parties with roles and reasons, one time zone stated,
summary first and the log in an appendix (one batch of additions folded), tokens whole, a sign-off block."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import builders as b
from tests.integration.test_case_file import closed_ring_case, export
from tests.integration.test_cases import enf
from tracesvc.documents import fonts, wording
from tracesvc.v1 import enforcement_pb2 as en

pytestmark = [
    pytest.mark.skipif(not fonts.available(), reason="fonts-noto-cjk not installed (.ci/run installs it)"),
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed (.ci/run installs it)"),
]


def _text(pdf: bytes, path: Path, *, layout: bool = False) -> str:
    path.write_bytes(pdf)
    mode = ["-layout"] if layout else []
    return subprocess.run(["pdftotext", *mode, str(path), "-"], capture_output=True, text=True, check=True).stdout


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


async def test_one_box_one_story_findings_in_chinese_and_a_case_file_that_reads_like_one(service, tmp_path: Path):
    cid = await closed_ring_case(service)
    stub = enf(service)
    case = await stub.GetCase(en.GetCaseRequest(case_id=cid))
    pdf, manifest = await export(service, cid)
    text = _text(pdf, tmp_path / "case.pdf")
    laid_out = _text(pdf, tmp_path / "case.pdf", layout=True)
    flat = _flat(text)
    boxes = sorted({b.code(b.STATIN, 71), b.code(b.STATIN, 72)})

    # 1. one chain per box, drawn once, the re-entry the RECEIPT recorded, citing every flag on the box
    chains_part = flat[flat.index("回流路径Return-drugchains") : flat.index("追溯记录Timelines")]
    assert chains_part.count("盒Box") == len(boxes) == 2
    for code in boxes:
        assert chains_part.count(f"盒Box{code}") == 1
        on_box = [f for f in case.flags if f.code == code]
        assert {f.rule for f in on_box} >= {"R", "D"}  # the box has both an R and a D flag ...
        for f in on_box:  # ... and its one diagram cites them all
            assert f.flag_id[:12] in chains_part, (f.rule, f.kind)
    assert "未记录" not in flat and "shownbyaresale" not in flat  # no diagram contradicts the RECEIPT
    assert chains_part.count("回流入库re-entry") == 2

    # 5. findings, kinds and statuses read Chinese first with the English beside
    zh, en_text = wording.FINDINGS["REENTRY"]
    assert _flat("R 回流入库 REENTRY") in flat and _flat(zh) in flat and _flat(en_text) in flat
    assert _flat(wording.FINDINGS["CROSS_PARTY"][0]) in flat and _flat("高 high") in flat

    # 10. one zone, stated; no CST (ambiguous) and no bare UTC times for people
    assert "Asia/Shanghai" in text and "UTC+8" in text and " CST" not in text

    # 11. summary and findings first, sign-off before the appendices, log in Appendix A, digests in B
    order = ["案情摘要Summary", "违规线索Findings", "当事人Parties", "回流路径", "签署Sign-off"]
    order += ["附录A案件日志", "附录B引用记录摘要"]
    positions = [flat.index(_flat(h)) for h in order]
    assert positions == sorted(positions), list(zip(order, positions, strict=True))
    assert all(_flat(w) in flat for w in ("承办人", "审核人", "执法证号", "日期", "印章"))
    # the additions of the opening batch are one line of the log, numbered within the case
    added = [e for e in case.case.log if e.action == "ADDED"]
    assert len(added) > 5
    assert _flat(f"{added[0].seq}–{added[-1].seq}") in flat and f"{len(added)}项" in flat
    assert [e.seq for e in case.case.log] == list(range(1, len(case.case.log) + 1))
    # tokens whole, rows whole: every code and flag id on one line as it is, in the laid-out page
    for f in case.flags:
        assert f.code in laid_out and f.flag_id[:12] in laid_out
    # regions by name beside the code; the summary's counts and money
    assert "北京市海淀区" in text and "110108" in text
    assert _flat(f"¥{case.case.money_fen / 100:,.2f}") in flat
    # the buyer timeline names what was bought
    buyer_part = flat[flat.index("参保人购药记录") :]
    assert "XC10AAA001" in buyer_part

    # 4. each party with a role and the reason, in the file and on the wire
    roles = {p.party_id: p for p in case.case.parties}
    assert roles["DEALER"].role == "FEEDING_SUPPLIER" and "P2" in roles["DEALER"].reason
    assert roles["P2"].role == "SUSPECTED_RESELLER"
    assert roles["P1"].role == "ORIGINAL_SELLER" and roles["P1"].role_text.startswith("原销售机构")
    buyers = [p for p in case.case.parties if p.role == "BUYER"]
    assert len(buyers) == 1 and re.fullmatch(r"[0-9a-f]{64}", buyers[0].party_id)
    parties_part = flat[flat.index("当事人Parties") : flat.index("回流路径")]
    for words in ("回流供货方feedingsupplier", "涉嫌回收倒卖suspectedreseller", "原销售机构"):
        assert words in parties_part
    assert manifest.file_sha256


async def test_a_flag_describes_itself_in_chinese_first_on_the_wire(service):
    from tests.integration.test_reconcile_api import ring
    from tests.reconcile_helpers import run

    await ring(service)
    await run(service.engine)
    flag = (await enf(service).ListFlags(en.ListFlagsRequest(rule="R"))).flags[0]
    zh, en_text = wording.FINDINGS["REENTRY"]
    assert flag.summary.startswith(f"R 回流入库 REENTRY：{zh} / {en_text}") and flag.detail in flag.summary


async def test_a_party_report_opens_with_counts_and_draws_one_chain_per_box(service):
    from tests.integration.test_reconcile_api import ring
    from tests.reconcile_helpers import run
    from tracesvc.documents import report

    await ring(service)
    await run(service.engine)
    stored = (await enf(service).ListReturnChains(en.ListReturnChainsRequest(party_id="P2"))).chains
    assert len(stored) == 4  # an R and a D chain for each of the two boxes
    html = await report.build(service.channel, (), party_id="P2")
    assert html.count('<svg class="chain"') == 2 and "未记录" not in html
    opening = html[html.index("<table class='opening'>") : html.index("违规线索 Findings")]
    flags = (await enf(service).ListFlags(en.ListFlagsRequest(party_id="P2"))).flags
    assert f"{len(flags)}（" in opening and "¥" in opening and "回流药品 Boxes come back</th><td>2<" in opening
    assert "Asia/Shanghai" in html and " CST" not in html
