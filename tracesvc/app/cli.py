"""`tracesvc` command line: serve, demo, import/export NDJSON events, load the registry."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from google.protobuf import json_format

from tracesvc import client
from tracesvc.app import case_cli
from tracesvc.app.config import Config, environment_help
from tracesvc.app.remote import add_remote, explain
from tracesvc.observability import logs
from tracesvc.runtime.progress import Progress, table


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


async def _import(config: Config, args) -> int:
    if args.format != "ndjson":
        return await _import_documents(config, args)
    from tracesvc.v1 import ack_pb2, events_pb2

    if args.file != "-" and not Path(args.file).exists():
        print(f"tracesvc import: no such file or directory: {args.file}", file=sys.stderr)
        return 2
    paths = (
        [args.file]
        if args.file == "-" or not Path(args.file).is_dir()
        else [str(p) for p in sorted(Path(args.file).rglob("*.ndjson"))]
    )
    readers = [NdjsonReader(p, events_pb2.Event) for p in paths]
    if not readers:
        print(f"no .ndjson files under {args.file}", file=sys.stderr)
        return 2
    with Progress(f"import {args.file}", "event") as progress:
        async with client.channel(args.target) as ch:
            acks = await client.stream_events(ch, progress.wrap(e for r in readers for e in r), args.key)
    reader = next((r for r in readers if r.error), readers[0])
    bad = [a for a in acks if a.status in (ack_pb2.ACK_STATUS_REJECTED, ack_pb2.ACK_STATUS_CONFLICT)]
    for a in bad:
        print(f"event {a.index + 1}: {a.event_id}: {a.error.message}", file=sys.stderr)
    title = f"import {args.file}: {len(acks):,} events acknowledged in {progress.elapsed:.1f} s"
    print(table(title, sorted(client.count_statuses(acks).items())))
    if reader.error:
        print(f"stopped at a malformed line: {reader.error}", file=sys.stderr)
        return 2
    return 1 if bad else 0


async def _import_documents(config: Config, args) -> int:
    """NHSA messages or EPCIS documents, sent to the service at --target with --key (its ImportDocument
    call: the same intake, roles and audit as the HTTP listener); never straight into a database."""
    from tracesvc.app.imports import ImportOptions, import_documents

    path = Path(args.file)
    if not path.exists():
        print(f"no such file or directory: {path}", file=sys.stderr)
        return 2
    options = ImportOptions(args.format, args.party or "", args.infno or "")
    summary = await import_documents(args.target, args.key, path, options)
    summary.render(sys.stdout, Path(args.problems) if args.problems else None)
    return 1 if summary.failed else 0


async def _registry_load(args) -> int:
    from tracesvc.v1 import ack_pb2, registry_pb2

    reader = NdjsonReader(args.file, registry_pb2.RegistryRecord)
    records = list(reader)
    if reader.error:
        print(f"nothing loaded: {reader.error}", file=sys.stderr)
        return 2
    async with client.channel(args.target) as ch:
        results = await client.upsert_registry(ch, records, token=args.key)
    bad = [r for r in results if r.status != ack_pb2.ACK_STATUS_STORED]
    for r in bad:
        print(f"{r.key}: {r.error.message}", file=sys.stderr)
    print(table(f"registry load {args.file}: {len(results):,} records", sorted(client.count_statuses(results).items())))
    return 1 if bad else 0


async def _export(config: Config, args) -> int:
    from tracesvc.api.convert import event_to_proto
    from tracesvc.app.server import database
    from tracesvc.store.events import iter_events

    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    with out, Progress("export", "event") as progress:
        async with database(config) as engine:
            async for ev in iter_events(engine):
                out.write(json_format.MessageToJson(event_to_proto(ev), indent=None, ensure_ascii=False) + "\n")
                progress.update()
    print(f"exported {progress.n:,} events in {progress.elapsed:.1f} s", file=sys.stderr)
    return 0


def _simulate(args) -> int:
    from tracesvc.sim import world
    from tracesvc.sim.generate import Simulation

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sim = Simulation(args.seed, args.scale, args.fraud_rate)
    with open(out / "registry.ndjson", "w", encoding="utf-8") as f:
        for record in world.registry_records():
            f.write(json_format.MessageToJson(record, indent=None, ensure_ascii=False) + "\n")
    with open(out / "commissioned.txt", "w", encoding="utf-8") as f:
        f.write(f"# commissioned codes of product {world.LISTED}\n")
        for code in sim.commissioned():
            f.write(code + "\n")
    events, labels = [], 0
    with open(out / "labels.jsonl", "w") as fl:
        for what, item in sim.run():
            if what == "label":
                fl.write(item.to_json() + "\n")
                labels += 1
            else:
                events.append(item)
    note = ""
    if args.format == "nhsa":  # the designated parties' events as NHSA messages; the rest stays proto
        from tracesvc.sim.nhsa import designated, to_nhsa, write_messages

        registry = world.parties()
        traffic = to_nhsa(events, designated(registry), suppliers={p.party_id: p for p in registry})
        events = traffic.rest
        messages = write_messages(traffic, out / "nhsa")
        note = f", {messages} NHSA messages in {out}/nhsa/ ({sum(traffic.carried.values())} events)"
    with open(out / "events.ndjson", "w", encoding="utf-8") as fe:
        fe.writelines(json_format.MessageToJson(e, indent=None, ensure_ascii=False) + "\n" for e in events)
    print(f"wrote {len(events)} events and {labels} labels to {out}/{note}", file=sys.stderr)
    return 0


async def _quality(config: Config, args) -> int:
    from tracesvc.sim.quality import measure

    if args.target:
        held = await _data_held(args.target, args.key)
        if held:
            print(
                f"tracesvc quality: the service at {args.target} already holds {held}: quality scores its own "
                "simulated traffic on an empty database, and would write into this one. Run it without --target "
                "(a fresh embedded database), or point --target at an empty service",
                file=sys.stderr,
            )
            return 1
        q = await measure(args.target, args.key, args.seed, args.scale, args.fraud_rate)
    else:
        from tracesvc.app.server import database, grpc_server
        from tracesvc.store.keys import create_key

        config = dataclasses.replace(config, data_dir=Path(tempfile.mkdtemp(prefix="tracesvc-quality-")))
        async with database(config) as engine, grpc_server(config, engine, listen="127.0.0.1:0") as running:
            _, token = await create_key(engine, "REGULATOR", name="quality")
            q = await measure(f"127.0.0.1:{running.port}", token, args.seed, args.scale, args.fraud_rate)
    print(q.render())
    for error in q.ack_errors[:20]:
        print(f"ingest error: {error}", file=sys.stderr)
    return 0 if not q.ack_errors else 1


async def _data_held(target: str, key: str | None) -> str:
    """What the service at `target` already holds that a quality run would mix with ("" if nothing)."""
    import grpc

    from tracesvc.v1 import reconcile_pb2, reconcile_pb2_grpc, registry_pb2, registry_pb2_grpc

    async with client.channel(target) as ch:
        runs = await reconcile_pb2_grpc.ReconcileServiceStub(ch).ListRuns(
            reconcile_pb2.ListRunsRequest(page_size=1), metadata=client.bearer(key)
        )
        if runs.runs:
            return f"reconciliation runs (the newest is run {runs.runs[0].run_id})"
        try:
            party = await registry_pb2_grpc.RegistryServiceStub(ch).GetParty(
                registry_pb2.GetPartyRequest(party_id="MFR-01"), metadata=client.bearer(key)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                return ""
            raise
        return "the simulator's registry (party MFR-01)" if party.HasField("party") else ""


async def _report(args) -> int:
    import grpc

    from tracesvc.documents import report

    async with client.channel(args.target) as ch:
        try:
            html = await report.build(ch, client.bearer(args.key), flag_id=args.flag or "", party_id=args.party or "")
        except grpc.aio.AioRpcError as exc:
            print(f"report: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    if args.out == "-":
        sys.stdout.write(html)
    else:
        Path(args.out).write_text(html, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


async def _keys(config: Config, args) -> int:
    from tracesvc.app.server import database
    from tracesvc.store import keys
    from tracesvc.store.registry import get_party

    async with database(config) as engine:
        if args.keys_command == "create":
            if args.role in ("POS", "SUPPLIER") and not args.party:
                print("a POS or SUPPLIER key needs --party", file=sys.stderr)
                return 2
            if args.party and await get_party(engine, args.party) is None:
                print(f"no party {args.party} in the registry: load it first (tracesvc registry load)", file=sys.stderr)
                return 2
            key_id, token = await keys.create_key(
                engine, args.role, args.party, chain_wide=args.chain, name=args.name, cert_subject=args.cert_subject
            )
            print(token)
            print(
                f"key {key_id} ({args.role}{' for ' + args.party if args.party else ''}); shown once: store it now",
                file=sys.stderr,
            )
        elif args.keys_command == "list":
            for k in await keys.list_keys(engine):
                scope = f"{k.party_id}{' (chain)' if k.chain_wide else ''}" if k.party_id else "-"
                print(f"{k.key_id}  {k.role:<9} {scope:<24} {'REVOKED' if k.revoked else 'active':<8} {k.name}")
        elif not await keys.revoke_key(engine, args.key_id):
            print(f"no active key {args.key_id}", file=sys.stderr)
            return 1
    return 0


async def _health(args) -> int:
    """grpc.health.v1 of the service at --target; with --wait, ask until it serves or the time is up."""
    import time

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + args.wait
    while True:
        # A channel per attempt: one channel's reconnect backoff (1 s growing ×1.6) would ask a server
        # that came up late only long after it did.
        async with client.channel(args.target) as ch:
            try:
                answer = await health_pb2_grpc.HealthStub(ch).Check(
                    health_pb2.HealthCheckRequest(service=args.service), timeout=2
                )
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            except grpc.aio.AioRpcError as exc:
                if time.monotonic() >= deadline:
                    raise
                status = exc.code().name
        if status == "SERVING":
            print(f"{args.target}: SERVING")
            return 0
        if time.monotonic() >= deadline:
            print(f"tracesvc health: {args.target} answers {status}", file=sys.stderr)
            return 1
        await asyncio.sleep(0.5)


async def _serve(config: Config) -> int:
    from tracesvc.app.server import serve

    await serve(config)
    return 0


async def _demo(config: Config, args) -> int:
    from tracesvc.app import demo
    from tracesvc.app.server import database, grpc_server

    if args.fresh:
        # A throw-away data directory: the demo then shows a first day, not a replay.
        config = dataclasses.replace(config, data_dir=Path(tempfile.mkdtemp(prefix="tracesvc-demo-")))
    from tracesvc.store.keys import create_key

    http = (config.http_listen or "127.0.0.1:8080") if args.serve else ""
    async with (
        database(config) as engine,
        grpc_server(config, engine, listen="127.0.0.1:0", http_listen=http) as running,
    ):
        # The demo acts as the fund's regulator: it loads the registry and the day's data.
        _, token = await create_key(engine, "REGULATOR", name="demo")
        summary = await demo.drive(f"127.0.0.1:{running.port}", token)
        demo.print_summary(summary)
        if args.serve:
            await _serve_console(engine, http, running.http_port, running.port)
    return 0


async def _serve_console(engine, listen: str, port: int, grpc_port: int) -> None:
    """Keep the demo's service up and say how to sign in to the web console, until Ctrl-C."""
    import signal

    from tracesvc.store.keys import create_key

    _, inspector = await create_key(engine, "INSPECTOR", name="demo inspector")
    _, regulator = await create_key(engine, "REGULATOR", name="demo regulator")
    host = listen.rpartition(":")[0].strip("[]") or "127.0.0.1"
    print()
    print("稽查工作台 / web console:", f"http://{host}:{port}/console/")
    print(f"  稽查员 INSPECTOR key:  {inspector}")
    print(f"  监管员 REGULATOR key:  {regulator}")
    print("  (sign in with one of the keys; Ctrl-C stops the service and the demo database)")
    print(f"gRPC: 127.0.0.1:{grpc_port}   (the CLI: export TRACESVC_TARGET=127.0.0.1:{grpc_port} TRACESVC_API_KEY=…)")
    print(flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracesvc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "serve",
        help="run the gRPC service (embedded PostgreSQL unless DATABASE_URL is set)",
        description="Run tracesvc: gRPC on TRACESVC_LISTEN, and the HTTP intake and web console on "
        "TRACESVC_HTTP_LISTEN when set. It takes no options: everything is configured by the environment. "
        "Ctrl-C (SIGTERM) drains in-flight calls and stops.",
        epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h = sub.add_parser("health", help="is the service at --target serving? (grpc.health.v1; exit 0 when it is)")
    h.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="keep asking this long (a starting server)")
    h.add_argument("--service", default="", help="a service name to check (default: the server as a whole)")
    add_remote(h)
    d = sub.add_parser("demo", help="start the service, drive a pharmacy day through it, print a summary")
    d.add_argument(
        "--keep", dest="fresh", action="store_false", help="use TRACESVC_DATA_DIR instead of a fresh temporary database"
    )
    d.add_argument(
        "--serve",
        action="store_true",
        help="keep the service running afterwards and print the web console's address and demo keys to sign in",
    )
    i = sub.add_parser("import", help="import events (NDJSON, NHSA or EPCIS files) into a running service")
    i.add_argument("file", help="file or directory (ndjson: also - for standard input)")
    i.add_argument(
        "--format",
        choices=["ndjson", "nhsa", "epcis"],
        default="ndjson",
        help="ndjson: proto3-JSON Events; nhsa (3501-3507 messages) and epcis (EPCIS 2.0 documents): each "
        "document sent whole and mapped by the service, as its HTTP intake does. All go to --target with --key",
    )
    i.add_argument("--party", help="nhsa: fixmedins_code for messages that carry only their input")
    i.add_argument("--infno", help="nhsa: infno for messages that carry only their input")
    i.add_argument("--problems", metavar="FILE", help="nhsa/epcis: write every problem to FILE (the summary lists 50)")
    add_remote(i)
    e = sub.add_parser("export", help="write every stored event as NDJSON (reads the database directly)")
    e.add_argument("--out", default="-")
    r = sub.add_parser("registry", help="reference data")
    rsub = r.add_subparsers(dest="registry_command", required=True)
    rl = rsub.add_parser("load", help="upsert NDJSON RegistryRecord lines (party or product) to a running service")
    rl.add_argument("file")
    add_remote(rl)
    rp = sub.add_parser("report", help="write a self-contained HTML evidence report (flag or party)")
    which = rp.add_mutually_exclusive_group(required=True)
    which.add_argument("--flag")
    which.add_argument("--party")
    rp.add_argument("--out", default="-", help="file to write (default: standard output)")
    add_remote(rp)
    sm = sub.add_parser("simulate", help="write a simulated dataset: registry, events, labels, commissioned codes")
    sm.add_argument("--seed", type=int, default=1)
    sm.add_argument("--scale", type=int, default=10_000, help="boxes (trace codes); about 4.5 events each")
    sm.add_argument("--fraud-rate", type=float, default=0.08, help="share of boxes with a fraud story (0: legit only)")
    sm.add_argument("--out", default="simulated", help="directory to write")
    sm.add_argument(
        "--format",
        choices=["proto", "nhsa"],
        default="proto",
        help="nhsa: pharmacies' and hospitals' events as NHSA 3501–3506 messages in OUT/nhsa/, "
        "the rest in events.ndjson",
    )
    q = sub.add_parser("quality", help="simulate, ingest over gRPC, reconcile, and score the flags against the labels")
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--scale", type=int, default=10_000)
    q.add_argument("--fraud-rate", type=float, default=0.08)
    q.add_argument("--target", help="a running service (default: start one on a fresh embedded database)")
    q.add_argument("--key", default=os.environ.get("TRACESVC_API_KEY"), help="API key (default: $TRACESVC_API_KEY)")
    k = sub.add_parser("keys", help="API keys (reads the database directly)")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="create a key and print it once")
    kc.add_argument("--role", required=True, choices=["POS", "SUPPLIER", "REGULATOR", "INSPECTOR"])
    kc.add_argument("--party", help="the party a POS or SUPPLIER key acts for")
    kc.add_argument("--chain", action="store_true", help="POS: the whole chain of --party")
    kc.add_argument("--name", default="")
    kc.add_argument("--cert-subject", help="also accept an mTLS client certificate with this subject CN")
    ksub.add_parser("list", help="keys and their roles (never the secrets)")
    kr = ksub.add_parser("revoke", help="revoke a key by its id")
    kr.add_argument("key_id")
    case_cli.register(sub)  # `case …` and `flags export` (issue 16)
    return parser


def _command(config: Config, args):
    """The coroutine that runs a command."""
    commands = {
        "serve": lambda: _serve(config),
        "health": lambda: _health(args),
        "demo": lambda: _demo(config, args),
        "import": lambda: _import(config, args),
        "export": lambda: _export(config, args),
        "registry": lambda: _registry_load(args),
        "keys": lambda: _keys(config, args),
        "report": lambda: _report(args),
        "quality": lambda: _quality(config, args),
        "case": lambda: case_cli.run(config, args),
        "flags": lambda: case_cli.run(config, args),
    }
    return commands[args.command]()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = Config.from_env()
    if args.command != "serve":  # a command's output is its summary: only warnings log (its workers' too)
        config = dataclasses.replace(config, log_level=os.environ.get("TRACESVC_LOG_LEVEL", "warning"))
    logs.configure(config.log_level, config.log_format)
    try:
        if args.command == "simulate":
            return _simulate(args)
        return asyncio.run(_command(config, args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tracesvc … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if os.environ.get("TRACESVC_DEBUG"):
            raise
        message, status = explain(exc, getattr(args, "target", "") or "")
        print(f"tracesvc {args.command}: {message} (TRACESVC_DEBUG=1 shows the traceback)", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
