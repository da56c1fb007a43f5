"""Cooperative time slices: CPU-bound loops on the event loop hand it back every few milliseconds.

Bulk work (a 100-box delivery note is ~5 ms of Python) shares the event loop with short
interactive calls (VerifyCodes). A budget counted in events is wrong by two orders of magnitude
between one-code sales and delivery notes; a budget in time is right for both.
"""

from __future__ import annotations

import asyncio
import time

SLICE_SECONDS = 0.002


class Slicer:
    """`await tick()` between units of work: yields to the loop once the slice is used up."""

    __slots__ = ("_seconds", "_until")

    def __init__(self, seconds: float = SLICE_SECONDS) -> None:
        self._seconds = seconds
        self._until = time.perf_counter() + seconds

    async def tick(self) -> None:
        if time.perf_counter() >= self._until:
            await asyncio.sleep(0)
            self._until = time.perf_counter() + self._seconds
