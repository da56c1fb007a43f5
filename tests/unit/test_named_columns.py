"""What SQL reads from stored events it reads by name: no statement outside the migrations picks a value
out of a payload by array position (a sale line is a JSON array; reordering its tuple in
`Event.to_json` must not silently change the money in findings). Values the rules need are columns
written at ingest (event_codes.fund_fen); anything else is decoded by `Event.from_json`."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `x ->> 5`, `x -> 6`, `#>> ARRAY['lines', n, '5']`, `#> '{lines,0,6}'`: a JSON path step that is a number.
POSITIONAL = re.compile(r"->>?\s*'?\d+'?(?![\w.])|#>>?\s*ARRAY\[[^\]]*'\d+'|#>>?\s*'\{[^}]*\b\d+\b")


def _sources() -> list[Path]:
    files = [*ROOT.joinpath("reconciler").rglob("*.py"), *ROOT.joinpath("tracesvc").rglob("*.py")]
    return [p for p in files if "migrations" not in p.parts and "v1" not in p.parts]


def test_no_sql_reads_a_stored_event_by_position():
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in _sources()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if POSITIONAL.search(line)
    ]
    assert found == []


def test_the_pattern_catches_the_reads_it_replaced():
    for old in (
        "(e.payload #>> ARRAY['lines', ec.line_no::text, '5'])::bigint",
        "SELECT coalesce(sum((l->>5)::bigint), 0) FROM jsonb_array_elements(e.payload->'lines') l",
        "SELECT DISTINCT ec.code, item->>1 AS batch",
    ):
        assert POSITIONAL.search(old), old
    assert not POSITIONAL.search("e.payload->'lines'") and not POSITIONAL.search("x -> 'y'")
