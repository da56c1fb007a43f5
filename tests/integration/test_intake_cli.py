"""`tracesvc import --format nhsa|epcis FILE|DIR` as a user runs it, against a real database."""

from __future__ import annotations

import json
from pathlib import Path

from tests.builders import seed_registry
from tests.conftest import _plain
from tests.integration.test_cli import cli
from tests.unit.epcis_samples import document, object_event, receiving
from tests.unit.nhsa_samples import CODE2, envelope, purchase_row, sale_row


async def test_import_a_folder_of_nhsa_messages_then_again_as_duplicates(service, config, tmp_path: Path, raw_db):
    await seed_registry(service.registry)
    month = tmp_path / "2026-10"
    month.mkdir()
    (month / "01-3503.json").write_text(
        json.dumps(
            envelope("3503", {"purcinfo": [purchase_row("PO1"), purchase_row("PO2", [{"drug_trac_codg": CODE2}])]}),
            ensure_ascii=False,
        )
    )
    # one file, several messages (a JSON array), one bad row
    (month / "02-3505.json").write_text(
        json.dumps(
            [
                envelope("3505", {"selinfo": sale_row("S1")}),
                envelope(
                    "3505A",
                    {
                        "selinfoDetail": [
                            sale_row("S2", codes=[{"drug_trac_codg": CODE2}]),
                            sale_row("S3", sel_retn_time="bad"),
                        ]
                    },
                ),
            ],
            ensure_ascii=False,
        )
    )
    (month / "03-input-only.json").write_text(
        json.dumps({"selinfo": sale_row("S1", sel_retn_time="2026-10-02 09:00:00")})
    )
    target = ("--target", service.target)
    done = await cli("import", "--format", "nhsa", "--infno", "3506", "--party", "P1", str(month), *target)
    assert done.returncode == 1, done.stderr  # the bad row is reported, and fails the command
    assert "3 files: duplicate 0" not in done.stdout
    assert "rejected 1" in done.stdout and "stored 5" in done.stdout, done.stdout
    assert "02-3505.json[1]: input.selinfoDetail[1]: REJECTED" in done.stdout
    assert await raw_db.fetchval("SELECT count(*) FROM events WHERE kind = 'SALE_RETURN'") == 1
    problems = tmp_path / "problems.txt"
    again = await cli(
        "import",
        "--format",
        "nhsa",
        "--infno",
        "3506",
        "--party",
        "P1",
        str(month),
        *target,
        "--problems",
        str(problems),
    )
    assert "duplicate 5" in again.stdout, again.stdout
    assert problems.read_text().count("REJECTED") == 1  # every problem, in a file


async def test_import_an_epcis_document(service, config, tmp_path: Path):
    await seed_registry(service.registry)
    doc = tmp_path / "capture.jsonld"
    doc.write_text(json.dumps(document(receiving(), object_event("inspecting", [], "urn:uuid:x"))))
    done = await cli("import", "--format", "epcis", str(doc), "--target", service.target)
    assert "1 files:" in done.stdout and "skipped 1" in done.stdout, done.stdout
    assert "epcisBody.eventList[0]" in done.stdout  # no party: the GLN is not mapped, and it says so


async def test_an_import_reaches_only_the_server_it_names(service, config, second_db_url, tmp_path: Path, raw_db):
    """Never a database of its own: in an empty directory, with no DATABASE_URL, it sends to --target."""
    import asyncpg

    await seed_registry(service.registry)
    doc = tmp_path / "3503.json"
    doc.write_text(json.dumps(envelope("3503", {"purcinfo": purchase_row("PO9")}), ensure_ascii=False))
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {"TRACESVC_DATA_DIR": str(empty)}  # what the old command would have started a database in
    done = await cli("import", "--format", "nhsa", str(doc), "--target", service.target, env=env)
    assert done.returncode == 0 and "stored 1" in done.stdout, (done.stdout, done.stderr)
    assert await raw_db.fetchval("SELECT count(*) FROM events") == 1
    other = await asyncpg.connect(_plain(second_db_url))
    try:
        assert await other.fetchval("SELECT count(*) FROM events") == 0
    finally:
        await other.close()
    assert not any(empty.iterdir())  # no embedded PostgreSQL was started there
