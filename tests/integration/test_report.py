"""The HTML evidence report: built over gRPC, self-contained, and rendered by a real browser."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_cli import cli
from tests.integration.test_reconcile_api import ring
from tests.reconcile_helpers import run
from tracesvc.documents import report
from tracesvc.v1 import enforcement_pb2 as en
from tracesvc.v1 import enforcement_pb2_grpc

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def reentry_flag(service) -> str:
    await ring(service)
    await run(service.engine)
    flags = (
        await enforcement_pb2_grpc.EnforcementServiceStub(service.channel).ListFlags(en.ListFlagsRequest(rule="R"))
    ).flags
    return flags[0].flag_id


async def test_report_holds_the_timeline_and_the_chain_diagram(service, tmp_path: Path):
    flag_id = await reentry_flag(service)
    html = await report.build(service.channel, (), flag_id=flag_id)
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html.split("xmlns")[0]
    assert html.count('<svg class="chain"') == 1
    for text in ("REENTRY", "Custody timeline", "DEALER", "P2", "原销售 original sale", "回流入库 re-entry"):
        assert text in html
    out = tmp_path / "r.html"
    done = await cli("report", "--flag", flag_id, "--target", service.target, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").count('<svg class="chain"') == 1


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (.ci/run installs it)")
async def test_report_renders_in_headless_chromium(service, tmp_path: Path):
    flag_id = await reentry_flag(service)
    page = tmp_path / "report.html"
    page.write_text(await report.build(service.channel, (), flag_id=flag_id), encoding="utf-8")
    profile = tmp_path / "profile"

    def browse(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    dom = await asyncio.to_thread(browse, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<svg class="chain"' in dom.stdout and "<rect" in dom.stdout and "marker-end" in dom.stdout
    shot = tmp_path / "report.png"
    done = await asyncio.to_thread(browse, f"--screenshot={shot}", "--window-size=1000,1400")
    assert done.returncode == 0 and shot.stat().st_size > 10_000  # a real picture, not a blank page
    shutil.copy(shot, Path(tempfile.gettempdir()) / "tracesvc-report.png")  # left for a person to look at
