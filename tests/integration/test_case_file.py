"""The case file: a PDF that renders Chinese with the bundled font, holds the case log, findings,
timelines, licences and chain diagrams, and whose manifest verifies (and catches a change)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_cases import enf, two_rings
from tests.integration.test_cli import cli
from tracesvc.documents import fonts
from tracesvc.v1 import enforcement_pb2 as en

pytestmark = [
    pytest.mark.skipif(not fonts.available(), reason="fonts-noto-cjk not installed (.ci/run installs it)"),
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed (.ci/run installs it)"),
]


async def closed_ring_case(service) -> str:
    await two_rings(service)
    stub = enf(service)
    ring = next(s for s in (await stub.SuggestCases(en.SuggestCasesRequest())).suggestions if s.key == "DEALER")
    proposal = en.CreateCaseRequest()
    proposal.CopyFrom(ring.proposal)
    proposal.title = "回流药团伙 DEALER → 药店 P2"
    cid = (await stub.CreateCase(proposal)).case.case_id
    for status, reason in [
        (en.CASE_STATUS_INVESTIGATING, "现场检查 site inspection"),
        (en.CASE_STATUS_CLOSED_CONFIRMED, "供货商无证，药品回流属实"),
    ]:
        await stub.UpdateCase(en.UpdateCaseRequest(case_id=cid, status=status, reason=reason))
    return cid


async def export(service, case_id: str) -> tuple[bytes, en.CaseFileManifest]:
    chunks, manifest = [], None
    async for item in enf(service).ExportCase(en.ExportCaseRequest(case_id=case_id)):
        if item.WhichOneof("item") == "chunk":
            chunks.append(item.chunk)
        else:
            manifest = item.manifest
    assert manifest is not None
    return b"".join(chunks), manifest


@pytest.mark.slow
async def test_case_file_renders_chinese_and_its_manifest_verifies(service, raw_db, tmp_path: Path):
    cid = await closed_ring_case(service)
    pdf, manifest = await export(service, cid)
    assert pdf.startswith(b"%PDF-") and manifest.file_bytes == len(pdf)
    assert manifest.file_sha256 == hashlib.sha256(pdf).hexdigest()
    kinds = {e.kind for e in manifest.entries}
    assert kinds == {"case", "case_log", "flag", "chain", "event", "party"}
    events = await raw_db.fetch("SELECT event_id, encode(content_hash, 'hex') AS h FROM events")
    cited = {e.id: e.sha256 for e in manifest.entries if e.kind == "event"}
    assert cited and all(cited[r["event_id"]] == r["h"] for r in events if r["event_id"] in cited)
    assert {"back1", "back2", "s1", "re1"} <= set(cited)
    # the export itself is in the case log, with the file's digest
    log = (await enf(service).GetCase(en.GetCaseRequest(case_id=cid))).case.log
    assert log[-1].action == "EXPORTED" and manifest.file_sha256 in log[-1].detail

    path = tmp_path / f"{cid}.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for phrase in (
        "药品追溯码稽查案卷",
        "案件日志",
        "供货商无证，药品回流属实",
        "回流药团伙",
        "回流路径",
        "REENTRY",
        "Custody timeline",
        "Buyer timeline",
        "Licence standing",
        "Appendix A",
        cid,
        manifest.entries[-1].sha256[:16],
    ):
        assert re.sub(r"\s+", "", phrase) in re.sub(r"\s+", "", text), phrase
    fonts_used = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    embedded = [line.split()[0] for line in fonts_used.splitlines()[2:]]
    assert embedded and all("TracesvcCJK" in name for name in embedded), fonts_used  # the bundled face only
    png = tmp_path / "page1"
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(png)], check=True)
    page = next(tmp_path.glob("page1*.png"))
    assert page.stat().st_size > 10_000  # a real page, not a blank one
    shutil.copy(page, Path(tempfile.gettempdir()) / "tracesvc-casefile-page1.png")  # for a person to look at


@pytest.mark.slow
async def test_case_file_cli_writes_and_verifies_and_catches_tampering(service, config, tmp_path: Path):
    cid = await closed_ring_case(service)
    out = tmp_path / "case.pdf"
    done = await cli("case", "file", cid, "--target", service.target, "--out", str(out))
    assert done.returncode == 0, done.stderr
    manifest = Path(f"{out}.manifest.json")
    assert (
        manifest.is_file()
        and Path(f"{out}.sha256").read_text().split()[0] == hashlib.sha256(out.read_bytes()).hexdigest()
    )
    sha = await asyncio.to_thread(
        subprocess.run, ["sha256sum", "-c", f"{out.name}.sha256"], cwd=tmp_path, capture_output=True, text=True
    )
    assert sha.returncode == 0, sha.stdout + sha.stderr
    env = {"DATABASE_URL": config.database_url}
    ok = await cli("case", "verify", str(out), "--store", env=env)
    assert ok.returncode == 0 and "verified" in ok.stdout, ok.stdout + ok.stderr
    # a changed byte in the file, and a flag reviewed after the export, are both caught
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(out.read_bytes()[:-10] + b"0" * 10)
    bad = await cli("case", "verify", str(tampered), "--manifest", str(manifest))
    assert bad.returncode == 1 and "SHA-256" in bad.stdout
    stub = enf(service)
    case = await stub.GetCase(en.GetCaseRequest(case_id=cid))
    await stub.ReviewFlags(
        en.ReviewFlagsRequest(flag_ids=[case.flags[0].flag_id], decision=en.REVIEW_DECISION_DISMISS, note="later")
    )
    changed = await cli("case", "verify", str(out), "--store", env=env)
    assert changed.returncode == 1 and f"flag {case.flags[0].flag_id}" in changed.stdout


async def test_export_of_an_unknown_case_is_not_found(service):
    import grpc

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await export(service, "CASE-nope")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.skipif(shutil.which("fc-list") is None, reason="fontconfig not installed")
async def test_the_html_report_carries_the_same_font(service):
    from tests.integration.test_report import reentry_flag
    from tracesvc.documents import report

    html = await report.build(service.channel, (), flag_id=await reentry_flag(service))
    assert f'@font-face{{font-family:"{fonts.FAMILY}"' in html and "data:font/otf;base64," in html
    assert fonts.FONT_STACK in html  # the page asks for the embedded face first
