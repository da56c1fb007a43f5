"""The command line as a user runs it: registry load, import, export, demo."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format

from tests import builders as b
from tracesvc.app import demo
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import registry_pb2 as reg


def run_cli(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracesvc.app.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=120,
        check=False,
    )


async def cli(*args, **kw):
    return await asyncio.to_thread(run_cli, *args, **kw)


def ndjson(messages) -> str:
    return "".join(json_format.MessageToJson(m, indent=None) + "\n" for m in messages)


@pytest.mark.slow
async def test_registry_load_import_and_export_round_trip(service, config, tmp_path: Path):
    registry_file = tmp_path / "registry.ndjson"
    registry_file.write_text(
        ndjson(
            [reg.RegistryRecord(party=p) for p in b.parties()] + [reg.RegistryRecord(product=p) for p in b.products()]
        )
    )
    done = await cli("registry", "load", str(registry_file), "--target", service.target)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  STORED\s+9$", done.stdout, re.M), done.stdout

    events = [
        ev.Event(receipt=b.receipt("r1", [b.code(b.STATIN, 1)])),
        ev.Event(sale=b.sale("s1", [(b.code(b.STATIN, 1), 7)], split=True, quantity=7)),
        ev.Event(receipt=b.receipt("bad", ["123"])),
    ]
    events_file = tmp_path / "events.ndjson"
    events_file.write_text(ndjson(events))
    done = await cli("import", str(events_file), "--target", service.target)
    assert done.returncode == 1  # one line was rejected, and it says which
    assert "event 3: bad:" in done.stderr and re.search(r"^  STORED\s+2$", done.stdout, re.M)

    done = await cli("export", env={"DATABASE_URL": config.database_url})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [next(iter(line)) for line in lines] == ["receipt", "sale"]
    assert "buyerId" not in lines[1]["sale"] and len(lines[1]["sale"]["buyerToken"]) == 64
    assert lines[1]["sale"]["lines"][0]["scanned"][0]["units"] == 7

    # What export writes, import takes back: every event a duplicate of itself.
    done = await cli("import", "-", "--target", service.target, stdin=done.stdout)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  DUPLICATE\s+2$", done.stdout, re.M), done.stdout


async def test_import_names_a_malformed_line(service, tmp_path: Path):
    f = tmp_path / "bad.ndjson"
    f.write_text('{"receipt": {}}\n{"receipt": {"nope": 1}}\n')
    done = await cli("import", str(f), "--target", service.target)
    assert done.returncode == 2 and f"{f}:2" in done.stderr
    assert re.search(r"^  REJECTED\s+1$", done.stdout, re.M)  # the line before it was sent and answered


async def test_demo_drives_a_day_through_the_service(service):
    summary = await demo.drive(service.target, boxes=400)
    assert set(summary["first_pass"]) <= {"STORED", "DUPLICATE"} and summary["first_pass"]["STORED"] > 1000
    assert summary["retry"] == {"DUPLICATE": 500}
    assert [status for _, status, _ in summary["troubles"]] == ["ACK_STATUS_REJECTED"] * 3
    assert summary["run"].status == 2  # DONE
    assert {"D CROSS_PARTY", "L UNLICENSED_SUPPLIER", "R REENTRY", "S NON_DRUG"} <= set(summary["flags"])
    assert summary["top_chain"].HasField("reentry")


@pytest.mark.slow
def test_demo_command_runs_on_the_embedded_database(tmp_path: Path):
    done = run_cli("demo", env={"TRACESVC_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "500 events, retried   {'DUPLICATE': 500}" in done.stdout
    assert "top return-drug chain" in done.stdout and "R REENTRY" in done.stdout
    assert '"level"' not in done.stderr, "the demo's summary is not interleaved with log lines (its workers' either)"


async def test_client_commands_explain_failures_in_one_line_with_an_exit_status_per_kind(service, config, tmp_path):
    """A newcomer's mistakes: no server there, a file that is not there, a party that is not there."""
    unreachable = await cli("case", "list", env={"TRACESVC_TARGET": "127.0.0.1:9"})
    assert unreachable.returncode == 3, unreachable.stderr
    assert "cannot be reached" in unreachable.stderr and "Traceback" not in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1
    missing = await cli("import", str(tmp_path / "nope.ndjson"), "--target", service.target)
    assert missing.returncode == 2 and "nope.ndjson" in missing.stderr and "Traceback" not in missing.stderr
    env = {"DATABASE_URL": config.database_url}
    nobody = await cli("keys", "create", "--role", "POS", "--party", "NO-SUCH-PARTY", env=env)
    assert nobody.returncode == 2 and "NO-SUCH-PARTY" in nobody.stderr and not nobody.stdout


async def test_tracesvc_target_names_the_server_for_every_client_command(service, tmp_path):
    registry_file = tmp_path / "registry.ndjson"
    registry_file.write_text(ndjson([reg.RegistryRecord(party=p) for p in b.parties()]))
    done = await cli("registry", "load", str(registry_file), env={"TRACESVC_TARGET": service.target})
    assert done.returncode == 0 and "STORED" in done.stdout, done.stderr


def test_serve_help_lists_every_variable_the_service_reads():
    from tracesvc.app.config import SERVE_ENVIRONMENT

    done = run_cli("serve", "--help")
    assert done.returncode == 0
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for names, _, _ in SERVE_ENVIRONMENT:
        for name in names.split(", "):
            assert name in done.stdout
            if "…" not in name:
                assert f"`{name}`" in readme, f"{name} is missing from the README's configuration table"
    source = (Path(__file__).parents[2] / "tracesvc" / "app" / "config.py").read_text()
    for name in set(re.findall(r'"(TRACESVC_[A-Z_]+|DATABASE_URL)"', source)):
        assert name in done.stdout, f"{name} is read but serve --help does not list it"


async def test_health_waits_for_a_serving_service_and_says_when_none_answers(service):
    up = await cli("health", "--wait", "5", "--target", service.target)
    assert up.returncode == 0 and "SERVING" in up.stdout, up.stderr
    down = await cli("health", "--wait", "1", "--target", "127.0.0.1:9")
    assert down.returncode == 3 and len(down.stderr.strip().splitlines()) == 1, down.stderr


async def test_quality_refuses_a_service_that_already_holds_data(service, tmp_path):
    registry_file = tmp_path / "registry.ndjson"
    from tracesvc.sim import world

    registry_file.write_text(ndjson(world.registry_records()))
    assert (await cli("registry", "load", str(registry_file), "--target", service.target)).returncode == 0
    done = await cli("quality", "--target", service.target, "--scale", "200")
    assert done.returncode == 1 and "already holds" in done.stderr and "MFR-01" in done.stderr, done.stderr
    assert not done.stdout


def test_progress_is_a_line_at_a_time_off_a_terminal():
    import io

    from tracesvc.runtime.progress import Progress, table

    out = io.StringIO()
    with Progress("import x", "event", total=3, stream=out, every=0) as progress:
        for _ in progress.wrap(range(3)):
            pass
    lines = out.getvalue().splitlines()
    # a line per update (every=0 here) and the final count as it closes; no carriage returns
    assert len(lines) == 4 and lines[-1].startswith("import x: 3/3 events (") and "\r" not in out.getvalue()
    assert table("t", {"STORED": 10_099, "DUPLICATE": 104}).splitlines() == [
        "t",
        "  STORED     10,099",
        "  DUPLICATE     104",
    ]


async def test_a_heartbeat_keeps_progress_going_while_work_reports_nothing():
    import io

    from tracesvc.runtime.progress import Progress

    out = io.StringIO()
    with Progress("case file X", "byte", stream=out, every=0) as progress:
        async with progress.heartbeat(every=0.01):
            await asyncio.sleep(0.2)  # a server rendering before its first byte
        assert out.getvalue().count("case file X: 0 bytes") >= 5

        async def pages():
            for n in range(3):
                yield n

        assert [n async for n in progress.awrap(pages())] == [0, 1, 2] and progress.n == 3
