"""`reconciler`: run reconciliation against the database (a regulator's batch job), list runs, rank suspects.

Reads DATABASE_URL, or the embedded PostgreSQL in TRACESVC_DATA_DIR, like the service.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.jobs import Engine, Mode, Reconciler, RunInfo
from reconciler.rules import BuyerParams
from reconciler.spark import SparkUnavailable
from tracesvc.app.config import Config
from tracesvc.observability import logs
from tracesvc.runtime.progress import Progress


def _when(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value}: give a time zone, e.g. 2026-11-01T00:00:00+08:00")
    return dt


def _buyer_param(value: str) -> tuple[str, int]:
    name, _, number = value.partition("=")
    if name not in BuyerParams().to_json() or not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(
            f"{value}: want NAME=N (N >= 1), NAME one of " + ", ".join(BuyerParams().to_json())
        )
    return name, int(number)


def _summary(info: RunInfo) -> str:
    return (
        f"run {info.run_id} {info.mode.value} {info.status.value}: {info.codes_done} codes, "
        f"{info.sales_done} sales, {info.buyers_done} buyers, {info.flags_new} new flags, "
        f"{info.flags_resolved} resolved, "
        f"{info.seconds:.1f} s" + (f" — {info.error}" if info.error else "")
    )


def recorded_lake(given: str | Path) -> str:
    """The lake as the run records it: a URL as given, a local directory made absolute (a resume, or the
    service's child process, may start in another directory)."""
    text = str(given)
    return text if urlsplit(text).scheme else str(Path(text).resolve())


async def _run(config: Config, args) -> int:
    from tracesvc.app.server import database

    async with database(config) as engine:
        reconciler = Reconciler(engine, skew=config.clock_skew, buyer_params=BuyerParams.from_env(os.environ))
        if args.processes:
            reconciler.processes = args.processes
        if args.resume:
            run_id = args.resume
        else:
            mode = Mode.FULL if args.full else Mode.INCREMENTAL
            params = BuyerParams.from_json(dict(args.buyer_param), base=reconciler.buyer_params)
            engine_kind = Engine(args.engine.upper().replace("-", "_"))
            day = args.day if engine_kind is Engine.SPARK else None
            lake = recorded_lake(args.from_parquet) if engine_kind is Engine.SPARK and args.from_parquet else None
            started = await reconciler.start(
                mode, args.window_from, args.window_to, params, engine=engine_kind, day=day, lake=lake
            )
            run_id = started.run_id
        recorded = await reconciler.get(run_id)
        if recorded is not None and recorded.engine is Engine.SPARK:
            from reconciler import spark_cli

            info = await spark_cli.execute(engine, run_id, args, config.clock_skew)
            print(_summary(info))
            return 0
        phases = _PhaseProgress(run_id, enabled=not args.quiet)
        try:
            info = await reconciler.execute(run_id, phases.show)
        finally:
            phases.close()
    print(_summary(info))
    return 0


class _PhaseProgress:
    """One progress line per phase of a run: codes (of a known total), then sales, then buyer tokens."""

    def __init__(self, run_id: int, enabled: bool) -> None:
        self.run_id, self.enabled = run_id, enabled
        self.phase = ""
        self.current: Progress | None = None

    def show(self, info: RunInfo) -> None:
        if info.buyers_done:
            phase, unit, done, total = "buyers", "buyer", info.buyers_done, None
        elif info.sales_done or (info.codes_total and info.codes_done >= info.codes_total):
            phase, unit, done, total = "sales", "sale", info.sales_done, None
        else:
            phase, unit, done, total = "codes", "code", info.codes_done, info.codes_total
        if phase != self.phase:
            self.close()
            self.phase = phase
            self.current = Progress(f"run {self.run_id} {phase}", unit, total, enabled=self.enabled)
        assert self.current is not None
        self.current.set(done, total, new=info.flags_new, resolved=info.flags_resolved)

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


async def _runs(config: Config, args) -> int:
    from tracesvc.app.server import database

    async with database(config) as engine:
        for info in await Reconciler(engine).list(args.limit):
            print(_summary(info))
    return 0


async def _suspects(config: Config, args) -> int:
    from reconciler.store.suspects import SuspectRole, rank_suspects
    from tracesvc.app.server import database
    from tracesvc.store.db import pg

    async with database(config) as engine, pg(engine) as conn:
        rows = await rank_suspects(conn, SuspectRole(args.role.upper()), args.limit)
    for r in rows:
        print(f"{r.id:<66} score={r.score:<5} {r.reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reconciler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="evaluate rules D, L, S, R, B and update flags and chains")
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--full", action="store_true", help="every code (or those with events in the window)")
    which.add_argument("--incremental", action="store_true", help="only codes touched since the last run")
    which.add_argument("--resume", type=int, metavar="RUN_ID", help="finish an interrupted run")
    run.add_argument("--window-from", type=_when)
    run.add_argument("--window-to", type=_when)
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--processes",
        type=int,
        metavar="K",
        help="in-process engine: K worker processes, each judging its own lock shards "
        "(default: TRACESVC_RECONCILE_PROCESSES, else 1)",
    )
    run.add_argument(
        "--buyer-param",
        type=_buyer_param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a rule B parameter for this run: "
        + ", ".join(BuyerParams().to_json())
        + " (default: TRACESVC_B_<NAME> or DESIGN's)",
    )
    run.add_argument(
        "--engine",
        choices=["in-process", "spark"],
        default="in-process",
        help="spark: a national full run on Apache Spark, or with --incremental --from-parquet LAKE --day D the "
        "daily run over the lake's day D (needs '.[spark]', Java, the JDBC jar)",
    )
    from reconciler.spark_cli import add_arguments, add_export, add_findings

    add_arguments(run)
    add_export(sub)
    add_findings(sub)
    runs = sub.add_parser("runs", help="recent runs, newest first")
    runs.add_argument("--limit", type=int, default=20)
    sus = sub.add_parser("suspects", help="who recurs across return-drug chains")
    sus.add_argument("--role", choices=["buyer", "supplier", "pharmacy"], required=True)
    sus.add_argument("--limit", type=int, default=20)
    return parser


def _check_spark(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    daily = args.incremental and args.day is not None and args.from_parquet
    if args.engine == "spark" and (args.window_from or args.window_to or (args.incremental and not daily)):
        parser.error(
            "--engine spark does full runs over every code, or daily runs over a lake's day "
            "(--incremental --from-parquet LAKE --day D); other incremental and windowed runs are in-process"
        )
    if args.day is not None and not (args.engine == "spark" and daily):
        parser.error("--day goes with --engine spark --incremental --from-parquet LAKE")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run" and (args.window_from or args.window_to) and not args.full:
        parser.error("--window-from/--window-to go with --full")
    if args.command == "run":
        _check_spark(parser, args)
    config = Config.from_env()
    logs.configure("warning", config.log_format)
    if args.command == "export-parquet":
        from reconciler.spark_cli import export

        handler = export
    elif args.command in ("export-findings", "import-findings"):
        from reconciler.spark_cli import export_findings, import_findings

        handler = export_findings if args.command == "export-findings" else import_findings
    else:
        handler = {"run": _run, "runs": _runs, "suspects": _suspects}[args.command]
    try:
        return asyncio.run(handler(config, args))
    except SparkUnavailable as exc:
        print(f"reconciler: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: resume with `reconciler run --resume RUN_ID`", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, not a traceback: what failed and where to look
        if os.environ.get("TRACESVC_DEBUG"):
            raise
        print(
            f"reconciler {args.command}: {type(exc).__name__}: {exc} (TRACESVC_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
