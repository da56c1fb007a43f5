"""`tracesvc` command line: serve, demo, import/export NDJSON events, load the registry."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from google.protobuf import json_format

from tracesvc import client, logs
from tracesvc.config import Config

DEFAULT_TARGET = "127.0.0.1:50051"


class NdjsonReader:
    """Parse one proto3-JSON message per line, stopping at the first bad line.

    A bad line ends the stream (the lines before it are still sent and acknowledged)
    and is kept in `error`, naming the file and line, for the command to report.
    """

    def __init__(self, path: str, message_type) -> None:
        self.path, self.message_type, self.error = path, message_type, ""

    def __iter__(self) -> Iterator:
        stream = sys.stdin if self.path == "-" else open(self.path, encoding="utf-8")  # noqa: SIM115
        with stream:
            for n, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    yield json_format.Parse(line, self.message_type())
                except json_format.ParseError as exc:
                    self.error = f"{self.path}:{n}: {exc}"
                    return


async def _import(args) -> int:
    from tracesvc.v1 import ack_pb2, events_pb2

    reader = NdjsonReader(args.file, events_pb2.Event)
    async with client.channel(args.target) as ch:
        acks = await client.stream_events(ch, reader)
    bad = [a for a in acks if a.status in (ack_pb2.ACK_STATUS_REJECTED, ack_pb2.ACK_STATUS_CONFLICT)]
    for a in bad:
        print(f"event {a.index + 1}: {a.event_id}: {a.error.message}", file=sys.stderr)
    print(dict(client.count_statuses(acks)))
    if reader.error:
        print(f"stopped at a malformed line: {reader.error}", file=sys.stderr)
        return 2
    return 1 if bad else 0


async def _registry_load(args) -> int:
    from tracesvc.v1 import ack_pb2, registry_pb2

    reader = NdjsonReader(args.file, registry_pb2.RegistryRecord)
    records = list(reader)
    if reader.error:
        print(f"nothing loaded: {reader.error}", file=sys.stderr)
        return 2
    async with client.channel(args.target) as ch:
        results = await client.upsert_registry(ch, records)
    bad = [r for r in results if r.status != ack_pb2.ACK_STATUS_STORED]
    for r in bad:
        print(f"{r.key}: {r.error.message}", file=sys.stderr)
    print(dict(client.count_statuses(results)))
    return 1 if bad else 0


async def _export(config: Config, args) -> int:
    from tracesvc.api.convert import event_to_proto
    from tracesvc.server import database
    from tracesvc.store.events import iter_events

    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    count = 0
    with out:
        async with database(config) as engine:
            async for ev in iter_events(engine):
                out.write(json_format.MessageToJson(event_to_proto(ev), indent=None, ensure_ascii=False) + "\n")
                count += 1
    print(f"exported {count} events", file=sys.stderr)
    return 0


async def _serve(config: Config) -> int:
    from tracesvc.server import serve

    await serve(config)
    return 0


async def _demo(config: Config, args) -> int:
    from tracesvc import demo
    from tracesvc.server import database, grpc_server

    if args.fresh:
        # A throw-away data directory: the demo then shows a first day, not a replay.
        config = dataclasses.replace(config, data_dir=Path(tempfile.mkdtemp(prefix="tracesvc-demo-")))
    async with database(config) as engine, grpc_server(config, engine, listen="127.0.0.1:0") as running:
        summary = await demo.drive(f"127.0.0.1:{running.port}")
    demo.print_summary(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracesvc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the gRPC service (embedded PostgreSQL unless DATABASE_URL is set)")
    d = sub.add_parser("demo", help="start the service, drive a pharmacy day through it, print a summary")
    d.add_argument("--keep", dest="fresh", action="store_false",
                   help="use TRACESVC_DATA_DIR instead of a fresh temporary database")
    i = sub.add_parser("import", help="send NDJSON events (one proto3-JSON Event a line) to a running service")
    i.add_argument("file", help="path, or - for standard input")
    i.add_argument("--target", default=DEFAULT_TARGET)
    e = sub.add_parser("export", help="write every stored event as NDJSON (reads the database directly)")
    e.add_argument("--out", default="-")
    r = sub.add_parser("registry", help="reference data")
    rsub = r.add_subparsers(dest="registry_command", required=True)
    rl = rsub.add_parser("load", help="upsert NDJSON RegistryRecord lines (party or product) to a running service")
    rl.add_argument("file")
    rl.add_argument("--target", default=DEFAULT_TARGET)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = Config.from_env()
    logs.configure(config.log_level if args.command == "serve" else "warning", config.log_format)
    match args.command:
        case "serve":
            coro = _serve(config)
        case "demo":
            coro = _demo(config, args)
        case "import":
            coro = _import(args)
        case "export":
            coro = _export(config, args)
        case "registry":
            coro = _registry_load(args)
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
