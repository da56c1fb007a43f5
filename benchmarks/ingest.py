"""Ingest throughput: codes/s through StreamEvents and unary RecordSale, against a raw COPY
of the same rows into the same tables, all in one run. Acks are durable (sent after commit).

    python benchmarks/ingest.py [--boxes 20000] [--workers 1,2] [--lanes 0,1] [--parts mix,bulk,unary]

Each (TRACESVC_WORKERS, TRACESVC_BULK_PROCESSES) pair runs on fresh databases in the same run;
lane 0 is every batch on the serving loop, as before issue 13's bulk lane.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from benchmarks.common import Bench, plain, save, server, table  # noqa: E402
from tracesvc import client  # noqa: E402
from tracesvc.api import convert  # noqa: E402
from tracesvc.domain.events import normalize_event  # noqa: E402
from tracesvc.sim import world  # noqa: E402
from tracesvc.sim.generate import Simulation  # noqa: E402
from tracesvc.store.events import CODE_COLUMNS, EVENT_COLUMNS  # noqa: E402
from tracesvc.v1 import events_pb2 as ev  # noqa: E402
from tracesvc.v1 import ingest_pb2, ingest_pb2_grpc  # noqa: E402

KEY = b"k" * 32


class SimRegistry:
    manufacturer_prefixes = frozenset()

    def __init__(self) -> None:
        self.parties = {p.party_id for p in world.parties()}

    def party_exists(self, party_id: str) -> bool:
        return party_id in self.parties

    def pack_units(self, key: str):
        p = world.BY_PREFIX.get(key)
        return p.pack if p else None


def unique_events(boxes: int) -> list[ev.Event]:
    seen, out = set(), []
    for what, item in Simulation(1, boxes).run():
        if what == "event":
            body = getattr(item, item.WhichOneof("kind"))
            if body.header.event_id not in seen:
                seen.add(body.header.event_id)
                out.append(item)
    return out


def bulk_receipts(n: int, per: int) -> list[ev.Event]:
    """Wholesaler deliveries: `per` boxes on one delivery note."""
    out = []
    for i in range(n):
        items = [ev.TraceItem(code=f"8610002{9 * 10**11 + i * per + k:013d}") for k in range(per)]
        out.append(
            ev.Event(
                receipt=ev.Receipt(
                    header=ev.EventHeader(
                        event_id=f"bulk-{i}",
                        party_id="RX-DC",
                        occurred_at=convert.to_timestamp(world.START),
                        document_no=f"DN-{i}",
                    ),
                    supplier_id="WHS-01",
                    items=items,
                )
            )
        )
    return out


def codes_in(events) -> int:
    return sum(
        len(b.items)
        if hasattr(b, "items")
        else (len(b.codes) if hasattr(b, "codes") else sum(len(ln.scanned) for ln in b.lines))
        for b in (getattr(e, e.WhichOneof("kind")) for e in events)
    )


def normalized(events: list[ev.Event]) -> list:
    """The events as tracesvc normalises them before storing (against the simulator's registry)."""
    reg = SimRegistry()
    out = []
    for e in events:
        which = e.WhichOneof("kind")
        draft, _ = convert.event_from_proto(convert.ONEOF_KIND[which], getattr(e, which), KEY)
        out.append(normalize_event(draft, reg))
    return out


def stored_rows(events: list[ev.Event]) -> tuple[list, list]:
    """The rows tracesvc would store for these events (events, event_codes)."""
    return rows_of(normalized(events))


def rows_of(events: list) -> tuple[list, list]:
    """The rows tracesvc stores for these normalised events (events, event_codes)."""
    rows_e, rows_c = [], []
    for seq, n in enumerate(events, 1):
        text, digest = n.serialized()
        rows_e.append(
            (
                seq,
                n.event_id,
                n.kind.value,
                n.party_id,
                n.occurred_at,
                n.document_no,
                n.counterparty_id,
                n.sale_id or None,
                n.buyer_token or None,
                digest,
                text,
                n.fund_paid_fen,
            )
        )
        rows_c += [
            (r.code, seq, r.line_no, n.occurred_at, n.kind.value, n.party_id, r.units, r.is_trace, r.fund_fen, r.batch)
            for r in n.code_rows()
        ]
    return rows_e, rows_c


async def copy_baseline(url: str, events: list[ev.Event], **how) -> float:
    """Raw COPY of the rows tracesvc would store; seconds to commit."""
    rows_e, rows_c = stored_rows(events)
    return await copy_rows(url, rows_e, rows_c, **how)


_PLAIN_TABLES = """
CREATE TABLE IF NOT EXISTS plain_events (
    event_seq bigint, event_id text, kind text, party_id text, occurred_at timestamptz, document_no text,
    counterparty_id text, sale_id text, buyer_token text, content_hash bytea, payload jsonb, fund_paid_fen bigint);
CREATE TABLE IF NOT EXISTS plain_event_codes (
    code text, event_seq bigint, line_no int, occurred_at timestamptz, kind text, party_id text, units int,
    is_trace bool, fund_fen bigint, batch text);
"""
_EVENT_COLUMNS = list(EVENT_COLUMNS)
_CODE_COLUMNS = list(CODE_COLUMNS)


def batches(rows_e: list, rows_c: list, events: int = 200, codes: int = 1_000) -> list[tuple[list, list]]:
    """The rows cut the way StreamEvents commits them: groups of <= 200 events and ~1,000 codes."""
    by_seq: dict[int, list] = {}
    for r in rows_c:
        by_seq.setdefault(r[1], []).append(r)
    out, cur_e, cur_c = [], [], []
    for r in rows_e:
        mine = by_seq.get(r[0], [])
        if cur_e and (len(cur_e) >= events or len(cur_c) + len(mine) > codes):
            out.append((cur_e, cur_c))
            cur_e, cur_c = [], []
        cur_e.append(r)
        cur_c += mine
    if cur_e:
        out.append((cur_e, cur_c))
    return out


async def copy_rows(
    url: str, rows_e: list, rows_c: list, *, plain_tables: bool = False, connections: int = 1, batched: bool = False
) -> float:
    """COPY the rows (into tracesvc's indexed tables, or two plain unindexed ones); seconds to commit."""
    work = batches(rows_e, rows_c) if batched else [(rows_e, rows_c)]
    names = ("plain_events", "plain_event_codes") if plain_tables else ("events", "event_codes")
    conns = [await asyncpg.connect(plain(url)) for _ in range(connections)]
    for conn in conns:
        # COPY speaks binary: jsonb's binary form is a version byte and the text.
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda v: b"\x01" + v.encode(),
            decoder=lambda b: json.loads(b[1:]),
            schema="pg_catalog",
            format="binary",
        )
    if plain_tables:
        await conns[0].execute(_PLAIN_TABLES)
    queue: asyncio.Queue = asyncio.Queue()
    for w in work:
        queue.put_nowait(w)

    async def one(conn) -> None:
        while not queue.empty():
            es, cs = queue.get_nowait()
            async with conn.transaction():
                await conn.copy_records_to_table(names[0], records=es, columns=_EVENT_COLUMNS)
                if cs:
                    await conn.copy_records_to_table(names[1], records=cs, columns=_CODE_COLUMNS)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(c) for c in conns))
        return time.perf_counter() - started
    finally:
        for conn in conns:
            await conn.close()


async def stream(target: str, events: list[ev.Event], streams: int) -> float:
    """`streams` clients, each on its own connection (as separate POS systems are)."""
    parts = [events[i::streams] for i in range(streams)]
    channels = [client.channel(target) for _ in parts]
    started = time.perf_counter()
    results = await asyncio.gather(*(client.stream_events(ch, p) for ch, p in zip(channels, parts, strict=True)))
    elapsed = time.perf_counter() - started
    for ch in channels:
        await ch.close()
    bad = [a for acks in results for a in acks if a.status not in (1, 2)]
    assert not bad, bad[0]
    return elapsed


async def unary_sales(
    target: str, sales: list[ev.Sale], concurrency: int, batch: int = 200, latencies: list[float] | None = None
) -> float:
    """RecordSale calls of `batch` sales from `concurrency` callers; seconds for all (each call's time
    goes to `latencies` when given)."""
    batches = [sales[i : i + batch] for i in range(0, len(sales), batch)]
    queue: asyncio.Queue = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    async with client.channel(target) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)

        async def worker():
            while not queue.empty():
                b = queue.get_nowait()
                t = time.perf_counter()
                resp = await stub.RecordSale(ingest_pb2.RecordSaleRequest(sales=b))
                if latencies is not None:
                    latencies.append(time.perf_counter() - t)
                assert all(a.status in (1, 2) for a in resp.acks), resp.acks[0]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def _row(label: str, codes: int, seconds: float, copy_rate: float) -> list[str]:
    return [label, f"{codes}", f"{seconds:.2f}", f"{codes / seconds:,.0f}", f"{(codes / seconds) / copy_rate:.2f}"]


async def main(boxes: int, worker_counts: list[int], lanes: list[int], parts: set[str]) -> None:
    events = unique_events(boxes)
    bulk = bulk_receipts(400, 100)
    sales = [e.sale for e in events if e.WhichOneof("kind") == "sale"]
    n_codes, n_bulk, n_sales = codes_in(events), codes_in(bulk), codes_in([ev.Event(sale=s) for s in sales])
    rows = []
    with Bench() as bench:

        async def setup_db():
            url = await bench.fresh_db()
            conn = await asyncpg.connect(plain(url))
            from tracesvc.store.db import create_engine
            from tracesvc.store.registry import upsert_parties, upsert_products

            engine = create_engine(url)
            await upsert_parties(engine, [convert.party_from_proto(p)[0] for p in world.parties()])
            await upsert_products(engine, [convert.product_from_proto(p)[0] for p in world.products()])
            await engine.dispose()
            await conn.close()
            return url

        # The reference: the same information COPYed into two plain tables (events, event_codes),
        # in the stream's batch sizes, over 4 connections. Beside it, the old baseline: one COPY
        # into tracesvc's own indexed tables.
        plain4 = {"plain_tables": True, "connections": 4, "batched": True}
        copy_rate, copy_bulk_rate = 0.0, 0.0
        for label, evs, n in (("simulated mix", events, n_codes), ("100-box receipts", bulk, n_bulk)):
            s_plain = await copy_baseline(await setup_db(), evs, **plain4)
            s_own = await copy_baseline(await setup_db(), evs)
            rows.append(
                [
                    f"COPY baseline, 2 plain tables, 4 conns ({label})",
                    f"{n}",
                    f"{s_plain:.2f}",
                    f"{n / s_plain:,.0f}",
                    "1.00",
                ]
            )
            rows.append(
                [
                    f"COPY into tracesvc's indexed tables, 1 txn ({label})",
                    f"{n}",
                    f"{s_own:.2f}",
                    f"{n / s_own:,.0f}",
                    f"{s_plain / s_own:.2f}",
                ]
            )
            if evs is events:
                copy_rate = n / s_plain
            else:
                copy_bulk_rate = n / s_plain
        for workers in worker_counts:
            for lane in lanes:
                env = {"TRACESVC_WORKERS": str(workers), "TRACESVC_BULK_PROCESSES": str(lane)}
                how = f"{workers} worker(s), bulk lane {lane}"
                for streams in (1, 4) if "mix" in parts else ():
                    url = await setup_db()
                    async with server(url, **env) as (target, _):
                        s = await stream(target, events, streams)
                    rows.append(_row(f"StreamEvents x{streams}, {how} (simulated mix)", n_codes, s, copy_rate))
                if "bulk" in parts:
                    url = await setup_db()
                    async with server(url, **env) as (target, _):
                        s = await stream(target, bulk, 4)
                    rows.append(_row(f"StreamEvents x4, {how} (100-box receipts)", n_bulk, s, copy_bulk_rate))
        for conc in (1, 8, 32) if "unary" in parts else ():
            url = await setup_db()
            async with server(url) as (target, _):
                s = await unary_sales(target, sales, conc)
            rows.append(_row(f"RecordSale unary, {conc} clients (200/call)", n_sales, s, copy_rate))
    print(
        table(
            f"ingest: {len(events)} simulated events ({boxes} boxes) + {len(bulk)} bulk receipts",
            ["path", "codes", "seconds", "codes/s", "vs COPY"],
            rows,
        )
    )
    print("saved", save("ingest", {"boxes": boxes, "rows": rows}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boxes", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2", help="TRACESVC_WORKERS values to run, comma-separated")
    parser.add_argument("--lanes", default="0,1,2", help="TRACESVC_BULK_PROCESSES values to run, comma-separated")
    parser.add_argument("--parts", default="mix,bulk,unary", help="which rows: mix, bulk, unary")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.boxes,
            [int(w) for w in args.workers.split(",")],
            [int(x) for x in args.lanes.split(",")],
            set(args.parts.split(",")),
        )
    )
