"""deploy/spark-submit.sh drives the `reconciler` command: every invocation of deploy/spark_driver.py
in it (the run, and the export and resume it documents) must parse with the command's own parser."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from reconciler.cli import build_parser

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "spark-submit.sh"
VALUES = {
    "MASTER": "spark://m:7077",
    "BUCKETS": "64",
    "JAR": "/usr/share/java/postgresql.jar",
    "RUN_ID": "7",
    "N": "64",
}
LAKE = "s3a://trace-lake/events"


def _invocations() -> list[list[str]]:
    """The arguments given to spark_driver.py, continuation lines joined, comment markers dropped."""
    text = re.sub(r"\\\n\s*(#\s*)?", " ", SCRIPT.read_text())
    out = []
    for line in text.splitlines():
        _, found, args = line.partition("deploy/spark_driver.py ")
        if not found:
            continue
        args = args.replace('"${SOURCE[@]}"', "--from-parquet DIR").replace("[--from-parquet DIR]", "")
        args = re.sub(r'"?\$\{?(\w+)\}?"?', lambda m: VALUES.get(m.group(1), m.group(0)), args)
        args = re.sub(r"\b(RUN_ID|N)\b", lambda m: VALUES[m.group(1)], args).replace("DIR", LAKE)
        out.append(shlex.split(args.replace("…", "").split("#")[0]))
    return out


def test_the_script_runs_a_full_spark_run_with_the_commands_flags():
    runs = [a for a in _invocations() if a[0] == "run"]
    full = [build_parser().parse_args(a) for a in runs if "--full" in a]
    assert len(full) == 1
    args = full[0]
    assert (args.engine, args.master, args.buckets) == ("spark", "spark://m:7077", 64)
    assert args.from_parquet == LAKE  # a lake URL reaches Spark as given (a Path would make it s3a:/…)
    assert str(args.jdbc_jar) == VALUES["JAR"]


@pytest.mark.parametrize("command", ["export-parquet", "run", "export-findings", "import-findings"])
def test_every_documented_invocation_parses(command):
    found = [a for a in _invocations() if a[0] == command]
    assert found, f"the script shows no `{command}`"
    for argv in found:
        build_parser().parse_args(argv)  # exits (SystemExit) on an unknown or missing flag


def test_parquet_locations_keep_a_lake_urls_double_slash():
    pytest.importorskip("pyarrow")
    from reconciler.spark.job import under  # noqa: PLC0415 (needs the spark extra)

    assert under(LAKE + "/", "sales") == LAKE + "/sales"
    assert under(Path("/data/lake"), "code_events") == "/data/lake/code_events"
    assert build_parser().parse_args(["export-parquet", LAKE]).out == LAKE
