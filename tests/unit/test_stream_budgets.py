"""StreamEvents' read-ahead and commit groups are budgeted in codes as well as events."""

from __future__ import annotations

import asyncio

from tests import builders as b
from tracesvc.api.ingest import ReadAhead
from tracesvc.api.routing import codes_of
from tracesvc.v1 import events_pb2 as ev


def note(n: int, boxes: int) -> ev.Event:
    return ev.Event(receipt=b.receipt(f"n{n}", [b.code(b.STATIN, n * 1000 + k) for k in range(boxes)]))


def test_codes_of_counts_items_lines_and_returns():
    sale = ev.Event(sale=b.sale("s", [(b.code(b.STATIN, 1), None), (b.code(b.STATIN, 2), 3)]))
    assert [codes_of(note(1, 100)), codes_of(sale), codes_of(ev.Event())] == [100, 2, 1]


async def test_groups_close_at_the_code_budget_and_a_big_event_goes_alone():
    window = ReadAhead(max_events=100, max_codes=10_000)
    for n, boxes in enumerate([100] * 15 + [2_500, 1]):
        await window.put(note(n, boxes))
    await window.put(None)
    sizes = []
    finished = False
    while not finished:
        group, finished = await window.take(200, 1_000)
        sizes.append([codes_of(e) for e in group])
    assert sizes == [[100] * 10, [100] * 5, [2_500], [1]]


async def test_read_ahead_waits_when_its_codes_are_used_up():
    window = ReadAhead(max_events=100, max_codes=300)
    for n in range(3):
        await window.put(note(n, 100))
    blocked = asyncio.create_task(window.put(note(3, 100)))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # 300 codes waiting: the reader stops reading the client's stream
    group, finished = await window.take(200, 150)
    assert len(group) == 1 and not finished
    await asyncio.wait_for(blocked, 1)
