"""`tracesvc case …` and `tracesvc flags export`: an inspector's commands for cases (issue 16).

tracesvc case suggest                      candidate cases, most money at risk first
tracesvc case open --suggestion 1          open the first one as a case (or --title/--flag/…)
tracesvc case show CASE                    the case, its members and its log
tracesvc case move CASE INVESTIGATING --reason "…"   (closing: --review-flags reviews its flags alike)
tracesvc case edit CASE [--title T] [--assignee A] [--deadline 2026-12-31] --reason "…"
tracesvc case note CASE "text"              a note in the case log, nothing else changes
tracesvc case attach CASE FILE --kind INSPECTION_RECORD --reason "…"
tracesvc case flags CASE                   the flags the case holds
tracesvc case reads CASE                   who read the case (regulators)
tracesvc case officer KEY_ID --name N --cert 执法证号 [--title 承办人]   bind an officer to a key (REGULATOR)
tracesvc case add|remove CASE --flag F --chain C --code X --buyer TOKEN --reason "…"
tracesvc case list [--status S] [--since D --until D] [--text W] [--overdue] [--format csv|xlsx --out FILE]
tracesvc case file CASE --out case.pdf     the PDF, case.pdf.manifest.json and case.pdf.sha256
tracesvc case verify case.pdf [--store]    the file against its manifest (and the store)
tracesvc flags export --format xlsx --out flags.xlsx [--rule R --status OPEN …]
"""

from __future__ import annotations

import argparse
import mimetypes
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from tracesvc import client
from tracesvc.app.config import Config
from tracesvc.app.remote import add_remote, explain
from tracesvc.client.wire import to_timestamp
from tracesvc.documents import wording
from tracesvc.documents.formatting import CST, when_seconds
from tracesvc.documents.formatting import yuan as _yuan
from tracesvc.runtime.progress import Progress
from tracesvc.v1 import enforcement_pb2 as pb
from tracesvc.v1 import enforcement_pb2_grpc

STATUSES = [
    n.removeprefix("CASE_STATUS_") for n in pb.CaseStatus.DESCRIPTOR.values_by_name if not n.endswith("UNSPECIFIED")
]
FLAG_STATUSES = ["OPEN", "CONFIRMED", "DISMISSED", "RESOLVED"]


def _remote(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    return add_remote(p)


def _members(p: argparse.ArgumentParser) -> None:
    for kind in ("flag", "chain", "code", "buyer"):
        p.add_argument(f"--{kind}", action="append", default=[], help=f"a {kind} to include (repeatable)")
    p.add_argument("--reason", default="", help="why (required by the service for every change)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `case` and `flags` command groups to the tracesvc parser."""
    case = sub.add_parser("case", help="enforcement cases: suggest, open, work, close, case file (PDF), verify")
    csub = case.add_subparsers(dest="case_command", required=True)
    s = _remote(csub.add_parser("suggest", help="candidate cases grouped by ring, pharmacy or batch"))
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--min-flags", type=int, default=3)
    s.add_argument("--links", action="store_true", help="show why each suggestion ranks and how each flag is linked")
    o = _remote(csub.add_parser("open", help="open a case from a suggestion or from named members"))
    o.add_argument("--suggestion", type=int, help="number shown by `case suggest` (1 = the first)")
    o.add_argument("--title", default="")
    o.add_argument("--party", action="append", default=[], help="subject party (repeatable)")
    o.add_argument("--region", default="")
    o.add_argument("--assignee", default="")
    _members(o)
    _remote(csub.add_parser("show", help="a case, its members and its log")).add_argument("case_id")
    m = _remote(csub.add_parser("move", help="change a case's status, with a reason"))
    m.add_argument("case_id")
    m.add_argument("status", choices=STATUSES)
    m.add_argument("--reason", required=True)
    m.add_argument(
        "--review-flags",
        action="store_true",
        help="closing CLOSED_CONFIRMED/CLOSED_DISMISSED: confirm/dismiss the case's flags with the same reason",
    )
    _register_work(csub)
    for verb in ("add", "remove"):
        a = _remote(csub.add_parser(verb, help=f"{verb} flags, chains, codes or buyer tokens"))
        a.add_argument("case_id")
        _members(a)
    ls = _remote(csub.add_parser("list", help="cases, printed or exported as CSV/XLSX"))
    ls.add_argument("--status", action="append", default=[], choices=STATUSES)
    ls.add_argument("--party", default="")
    ls.add_argument("--region", default="")
    ls.add_argument("--since", help="opened on or after this day (YYYY-MM-DD, Asia/Shanghai)")
    ls.add_argument("--until", help="opened before the end of this day (YYYY-MM-DD, Asia/Shanghai)")
    ls.add_argument("--text", default="", help="words in the title, id, subjects, assignee or a log reason")
    ls.add_argument("--overdue", action="store_true", help="only cases past their deadline and not closed")
    ls.add_argument("--format", choices=["csv", "xlsx"])
    ls.add_argument("--out", default="-")
    f = _remote(csub.add_parser("file", help="the PDF case file, its manifest and its SHA-256"))
    f.add_argument("case_id")
    f.add_argument("--out", help="PDF path (default: CASE.pdf)")
    v = csub.add_parser("verify", help="check a case file against its manifest (and, with --store, the records)")
    v.add_argument("pdf")
    v.add_argument("--manifest", help="default: PDF.manifest.json")
    v.add_argument("--store", action="store_true", help="also re-read every cited record (needs DATABASE_URL)")

    flags = sub.add_parser("flags", help="flags: export as CSV or XLSX")
    fsub = flags.add_subparsers(dest="flags_command", required=True)
    fe = _remote(fsub.add_parser("export", help="every flag a filter matches, streamed page by page"))
    fe.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    fe.add_argument("--out", default="-")
    for name in ("rule", "kind", "party", "region", "code"):
        fe.add_argument(f"--{name}", default="")
    fe.add_argument("--status", action="append", default=[], choices=FLAG_STATUSES)
    fe.add_argument("--case", default="", help="the flags one case holds")


def _day(value: str, *, end: bool = False) -> datetime:
    """A day in Asia/Shanghai (its start, or with `end` the start of the next), or an ISO time."""
    if len(value) == 10:
        start = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), tzinfo=CST)
        return start + timedelta(days=1) if end else start
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=CST)


def _register_work(csub: argparse._SubParsersAction) -> None:
    """Case work beyond the status: edit, note, attach, flags, reads, officer."""
    ed = _remote(csub.add_parser("edit", help="retitle, reassign or set the deadline (办理期限), with a reason"))
    ed.add_argument("case_id")
    ed.add_argument("--title")
    ed.add_argument("--assignee")
    ed.add_argument("--deadline", help="YYYY-MM-DD (end of that day, Asia/Shanghai) or an ISO time")
    ed.add_argument("--clear-deadline", action="store_true")
    ed.add_argument("--reason", required=True)
    nt = _remote(csub.add_parser("note", help="a note in the case log; nothing else changes"))
    nt.add_argument("case_id")
    nt.add_argument("text")
    at = _remote(csub.add_parser("attach", help="attach a document (现场检查笔录, photo, scan) with its SHA-256"))
    at.add_argument("case_id")
    at.add_argument("file")
    at.add_argument("--kind", default="OTHER", choices=["INSPECTION_RECORD", "PHOTO", "SCAN", "OTHER"])
    at.add_argument("--description", default="")
    at.add_argument("--reason", required=True)
    _remote(csub.add_parser("flags", help="the flags a case holds")).add_argument("case_id")
    _remote(csub.add_parser("reads", help="who read a case (regulators)")).add_argument("case_id")
    of = _remote(csub.add_parser("officer", help="bind an officer (name, 执法证号) to an API key (regulators)"))
    of.add_argument("key_id")
    of.add_argument("--name", required=True)
    of.add_argument("--cert", required=True, help="执法证号, the law-enforcement certificate number")
    of.add_argument("--title", default="", help="e.g. 承办人 or 审核人")


def _stub(ch: grpc.aio.Channel) -> enforcement_pb2_grpc.EnforcementServiceStub:
    return enforcement_pb2_grpc.EnforcementServiceStub(ch)


def _refs(args: argparse.Namespace) -> list[pb.CaseMemberRef]:
    kinds = {
        "flag": pb.CASE_MEMBER_KIND_FLAG,
        "chain": pb.CASE_MEMBER_KIND_CHAIN,
        "code": pb.CASE_MEMBER_KIND_CODE,
        "buyer": pb.CASE_MEMBER_KIND_BUYER,
    }
    return [pb.CaseMemberRef(kind=k, ref=ref) for name, k in kinds.items() for ref in getattr(args, name)]


def _ts_when(ts: Any) -> str:
    return when_seconds(ts.ToDatetime(tzinfo=UTC)) if ts.seconds or ts.nanos else ""


def print_case(case: pb.Case, *, full: bool = False) -> None:
    """The case, its members and log; with `full` (case show) also its parties and attachments."""
    print(f"{case.case_id}  {pb.CaseStatus.Name(case.status).removeprefix('CASE_STATUS_')}  {case.title}")
    print(
        f"  subjects {' '.join(case.subject_parties) or '-'}  region {wording.region(case.region) or '-'}  "
        f"assignee {case.assignee or '-'}  flags {case.flag_count}  at risk {_yuan(case.money_fen)}"
    )
    if case.HasField("deadline"):
        print(f"  deadline 办理期限 {_ts_when(case.deadline)}{'  OVERDUE 已超期' if case.overdue else ''}")
    for p in case.parties if full else ():
        print(f"  party {p.party_id}  {p.role_text}: {p.reason}")
    for a in case.attachments:
        print(f"  attachment {a.attachment_id} {a.kind} {a.file_name} {a.size} bytes sha256:{a.sha256}")
    for mem in case.members:
        print(f"  member {pb.CaseMemberKind.Name(mem.kind).removeprefix('CASE_MEMBER_KIND_'):<5} {mem.ref}")
    for e in case.log:
        move = (
            (
                f" {pb.CaseStatus.Name(e.from_status).removeprefix('CASE_STATUS_') if e.from_status else ''}"
                f"→{pb.CaseStatus.Name(e.to_status).removeprefix('CASE_STATUS_')}"
            )
            if e.to_status
            else ""
        )
        who = f"{e.officer_name} (执法证号 {e.officer_cert}, {e.role})" if e.officer_name else f"{e.actor}/{e.role}"
        print(f"  log #{e.seq} {_ts_when(e.at)} {who} {e.action}{move}: {e.reason} {e.detail}".rstrip())


async def _suggest(stub: Any, args: argparse.Namespace, md: Any) -> int:
    found = (
        await stub.SuggestCases(pb.SuggestCasesRequest(limit=args.limit, min_flags=args.min_flags), metadata=md)
    ).suggestions
    for n, s in enumerate(found, 1):
        print(f"{n:>3}. {s.basis:<8} {_yuan(s.money_fen):>12}  {len(s.flag_ids):>4} flags  {s.title}")
        if args.links:
            print(f"       {s.rank_reason}")
            for lk in s.links:
                buyer = f" buyer {lk.buyer_token[:16]}…" if lk.buyer_token else ""
                print(f"       - {lk.flag_id[:12]} {lk.why}{buyer}")
    if not found:
        print("no standing flags left outside cases")
    return 0


async def _open(stub: Any, args: argparse.Namespace, md: Any) -> int:
    request = pb.CreateCaseRequest(
        title=args.title,
        subject_parties=args.party,
        region=args.region,
        assignee=args.assignee,
        reason=args.reason,
        members=_refs(args),
    )
    if args.suggestion:
        found = (await stub.SuggestCases(pb.SuggestCasesRequest(), metadata=md)).suggestions
        if not 1 <= args.suggestion <= len(found):
            print(f"no suggestion {args.suggestion} (there are {len(found)})", file=sys.stderr)
            return 2
        proposal = found[args.suggestion - 1].proposal
        proposal.MergeFrom(request)  # what is given adds to (lists) or replaces (title, reason, …) the proposal
        request = proposal
    print_case((await stub.CreateCase(request, metadata=md)).case)
    return 0


async def _pages(fetch: Callable[[str], Awaitable[Any]], field: str) -> AsyncIterator[Any]:
    token = ""
    while True:
        page = await fetch(token)
        for item in getattr(page, field):
            yield item
        token = page.next_page_token
        if not token:
            return


async def _list(stub: Any, args: argparse.Namespace, md: Any) -> int:
    from tracesvc.documents import exports

    request = pb.ListCasesRequest(
        statuses=[f"CASE_STATUS_{s}" for s in args.status],
        party_id=args.party,
        region=args.region,
        page_size=1000,
        text=args.text,
        overdue=args.overdue,
    )
    if args.since:
        request.created_from.CopyFrom(to_timestamp(_day(args.since)))
    if args.until:
        request.created_to.CopyFrom(to_timestamp(_day(args.until, end=True)))

    def fetch(token: str) -> Awaitable[Any]:
        request.page_token = token
        return stub.ListCases(request, metadata=md)

    if not args.format:
        async for case in _pages(fetch, "cases"):
            print_case(case)
        return 0
    out = sys.stdout if args.out == "-" else Path(args.out)
    with Progress("case list", "case") as progress:
        n = await exports.write_rows(
            progress.awrap(_pages(fetch, "cases")), exports.CASE_COLUMNS, args.format, out, "cases"
        )
    print(f"exported {n} cases", file=sys.stderr)
    return 0


async def _flags_export(stub: Any, args: argparse.Namespace, md: Any) -> int:
    from tracesvc.documents import exports

    request = pb.ListFlagsRequest(
        rule=args.rule,
        kind=args.kind,
        party_id=args.party,
        region=args.region,
        code=args.code,
        page_size=1000,
        statuses=[f"FLAG_STATUS_{s}" for s in args.status],
        case_id=args.case,
    )

    def fetch(token: str) -> Awaitable[Any]:
        request.page_token = token
        return stub.ListFlags(request, metadata=md)

    out = sys.stdout if args.out == "-" else Path(args.out)
    with Progress("flags export", "flag") as progress:
        rows = progress.awrap(_pages(fetch, "flags"))
        n = await exports.write_rows(rows, exports.FLAG_COLUMNS, args.format, out, "flags")
    print(f"exported {n:,} flags in {progress.elapsed:.1f} s", file=sys.stderr)
    return 0


async def _file(stub: Any, args: argparse.Namespace, md: Any) -> int:
    out = Path(args.out or f"{args.case_id}.pdf")
    partial = out.with_name(out.name + ".part")
    manifest = None
    # The server renders the whole PDF before its first byte: the clock runs meanwhile.
    with partial.open("wb") as f, Progress(f"case file {args.case_id}", "byte") as progress:
        async with progress.heartbeat():
            async for item in stub.ExportCase(pb.ExportCaseRequest(case_id=args.case_id), metadata=md):
                if item.WhichOneof("item") == "chunk":
                    f.write(item.chunk)
                    progress.update(len(item.chunk))
                else:
                    manifest = item.manifest
    if manifest is None:
        print("the stream ended without a manifest", file=sys.stderr)
        return 1
    partial.replace(out)
    Path(f"{out}.manifest.json").write_text(
        json_format.MessageToJson(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    Path(f"{out}.sha256").write_text(f"{manifest.file_sha256}  {out.name}\n", encoding="utf-8")
    print(
        f"wrote {out} ({manifest.file_bytes} bytes, SHA-256 {manifest.file_sha256}), "
        f"{out}.manifest.json ({len(manifest.entries)} records) and {out}.sha256",
        file=sys.stderr,
    )
    return 0


async def verify(config: Config, args: argparse.Namespace) -> int:
    """Check a case file: its bytes against the manifest, and with --store every cited record."""
    from tracesvc.service import casefile

    pdf_path = Path(args.pdf)
    manifest = json_format.Parse(
        Path(args.manifest or f"{pdf_path}.manifest.json").read_text(encoding="utf-8"), pb.CaseFileManifest()
    )
    problems = casefile.verify_file(pdf_path.read_bytes(), manifest.file_sha256, manifest.file_bytes)
    entries = [casefile.ManifestEntry(e.kind, e.id, e.sha256) for e in manifest.entries]
    if args.store:
        problems += await _verify_store(config, manifest.case_id, entries)
    for p in problems:
        print(f"MISMATCH {p}")
    if problems:
        return 1
    print(
        f"verified {pdf_path}: SHA-256 {manifest.file_sha256}, {len(entries)} cited records"
        + (" match the store" if args.store else " listed (use --store to re-check them)")
    )
    return 0


async def _verify_store(config: Config, case_id: str, entries: list[Any]) -> list[str]:
    from tracesvc.app.server import database
    from tracesvc.service import casefile
    from tracesvc.store.db import pg
    from tracesvc.store.registry import load_parties

    async with database(config) as engine:
        async with pg(engine) as conn:
            now = await casefile.current_digests(conn, case_id, entries)
        async with engine.connect() as sa_conn:
            parties = await load_parties(sa_conn, [e.id for e in entries if e.kind == "party"])
    return casefile.compare(entries, now, parties)


async def _case_flags(stub: Any, args: argparse.Namespace, md: Any) -> int:
    request = pb.ListFlagsRequest(
        case_id=args.case_id, page_size=1000, statuses=[f"FLAG_STATUS_{x}" for x in FLAG_STATUSES]
    )

    def fetch(token: str) -> Awaitable[Any]:
        request.page_token = token
        return stub.ListFlags(request, metadata=md)

    async for f in _pages(fetch, "flags"):
        status = pb.FlagStatus.Name(f.status).removeprefix("FLAG_STATUS_")
        print(
            f"{f.flag_id[:12]}  {wording.both(wording.STATUSES.get(status), status)}  {_yuan(f.money_fen)}  {f.summary}"
        )
    return 0


async def _reads(stub: Any, args: argparse.Namespace, md: Any) -> int:
    for r in (await stub.ListCaseReads(pb.ListCaseReadsRequest(case_id=args.case_id), metadata=md)).reads:
        who = f"{r.officer_name} (执法证号 {r.officer_cert})" if r.officer_name else r.key_id
        print(f"{_ts_when(r.at)}  {r.method:<12} {who} {r.role}")
    return 0


async def _attach(stub: Any, args: argparse.Namespace, md: Any) -> int:
    path = Path(args.file)
    request = pb.AddCaseAttachmentRequest(
        case_id=args.case_id,
        kind=args.kind,
        file_name=path.name,
        media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        description=args.description,
        content=path.read_bytes(),
        reason=args.reason,
    )
    print_case((await stub.AddCaseAttachment(request, metadata=md)).case)
    return 0


async def _officer(stub: Any, args: argparse.Namespace, md: Any) -> int:
    request = pb.BindOfficerRequest(key_id=args.key_id, name=args.name, cert_no=args.cert, title=args.title)
    o = await stub.BindOfficer(request, metadata=md)
    print(f"key {o.key_id}: {o.name} (执法证号 {o.cert_no}) {o.title}".rstrip())
    return 0


_REMOTE: dict[str, Callable[[Any, argparse.Namespace, Any], Awaitable[int]]] = {
    "suggest": _suggest,
    "open": _open,
    "list": _list,
    "file": _file,
    "flags": _case_flags,
    "reads": _reads,
    "attach": _attach,
    "officer": _officer,
}


async def _simple(stub: Any, args: argparse.Namespace, md: Any) -> int:
    cmd = args.case_command
    if cmd == "show":
        response = await stub.GetCase(pb.GetCaseRequest(case_id=args.case_id), metadata=md)
        print_case(response.case, full=True)
        return 0
    elif cmd == "move":
        response = await stub.UpdateCase(
            pb.UpdateCaseRequest(
                case_id=args.case_id,
                status=f"CASE_STATUS_{args.status}",
                reason=args.reason,
                review_flags=args.review_flags,
            ),
            metadata=md,
        )
    elif cmd == "note":
        response = await stub.UpdateCase(
            pb.UpdateCaseRequest(case_id=args.case_id, reason=args.text, note_only=True), metadata=md
        )
    elif cmd == "edit":
        edit = pb.UpdateCaseRequest(
            case_id=args.case_id,
            reason=args.reason,
            title=args.title or "",
            assignee=args.assignee or "",
            clear_deadline=args.clear_deadline,
        )
        if args.deadline:
            edit.deadline.CopyFrom(to_timestamp(_day(args.deadline, end=True) - timedelta(seconds=1)))
        response = await stub.UpdateCase(edit, metadata=md)
    else:
        request = pb.ChangeCaseMembersRequest(case_id=args.case_id, members=_refs(args), reason=args.reason)
        call = stub.AddToCase if cmd == "add" else stub.RemoveFromCase
        response = await call(request, metadata=md)
    print_case(response.case)
    return 0


async def run(config: Config, args: argparse.Namespace) -> int:
    if args.command == "case" and args.case_command == "verify":
        return await verify(config, args)
    handler = _flags_export if args.command == "flags" else _REMOTE.get(args.case_command, _simple)
    async with client.channel(args.target) as ch:
        try:
            return await handler(_stub(ch), args, client.bearer(args.key))
        except grpc.aio.AioRpcError as exc:
            message, status = explain(exc, args.target)
            print(f"tracesvc {args.command}: {message}", file=sys.stderr)
            return status
