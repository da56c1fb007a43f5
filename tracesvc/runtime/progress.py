"""Progress of long command-line work, and the summary table that ends it.

On a terminal a tqdm bar; otherwise (a log file, CI, a pipe) one plain line every `every` seconds,
so a long import or run is never silent and never floods a log with carriage returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, TextIO, TypeVar

T = TypeVar("T")


class Progress:
    """Counts work done (`update`, `set`) toward an optional `total`, shown as `what: n/total unit`."""

    def __init__(
        self,
        what: str,
        unit: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        every: float = 10.0,
        enabled: bool = True,
    ) -> None:
        self.what, self.unit, self.total = what, unit, total
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self._stream = stream or sys.stderr
        self._every = every
        self._enabled = enabled
        self._started = self._last = time.monotonic()
        self._bar = None
        self._closed = False
        if enabled and self._stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(desc=what, unit=unit, total=total, file=self._stream)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.set(self.n + n)

    def set(self, n: int, total: int | None = None, **postfix: Any) -> None:
        self.n = n
        if total is not None:
            self.total = total
        self.postfix.update(postfix)
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.n = n
            if self.postfix:
                self._bar.set_postfix(self.postfix, refresh=False)
            self._bar.refresh()
        elif self._enabled and time.monotonic() - self._last >= self._every:
            self._line()

    async def awrap(self, items: AsyncIterator[T]) -> AsyncIterator[T]:
        """`items` (asynchronous), counting each as it is taken."""
        async for item in items:
            yield item
            self.update()

    @contextlib.asynccontextmanager
    async def heartbeat(self, every: float = 1.0) -> AsyncIterator[None]:
        """Keep the bar's clock (or the periodic line) going while waiting on work that reports nothing,
        such as a server rendering a case file before its first byte."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(every)
                self.set(self.n)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()

    def wrap(self, items: Iterable[T]) -> Iterator[T]:
        """`items`, counting each as it is taken."""
        for item in items:
            yield item
            self.update()

    def close(self) -> None:
        """End the bar; off a terminal, one last line with the final count (a log shows each step ended)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._enabled and not self._closed:
            self._line()
        self._closed = True

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _line(self) -> None:
        self._last = time.monotonic()
        done = f"{self.n:,}/{self.total:,}" if self.total else f"{self.n:,}"
        rate = self.n / self.elapsed if self.elapsed > 0 else 0.0
        extra = "".join(f", {k} {v:,}" if isinstance(v, int) else f", {k} {v}" for k, v in self.postfix.items())
        print(f"{self.what}: {done} {self.unit}s ({rate:,.0f}/s{extra}), {self.elapsed:.0f} s", file=self._stream)
        self._stream.flush()


def table(title: str, rows: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """A titled two-column table, numbers right-aligned with thousands separators."""
    pairs = list(rows.items() if isinstance(rows, Mapping) else rows)
    shown = [(str(k), f"{v:,}" if isinstance(v, int) else str(v)) for k, v in pairs]
    if not shown:
        return f"{title}: nothing"
    left = max(len(k) for k, _ in shown)
    right = max(len(v) for _, v in shown)
    return "\n".join([title, *(f"  {k:<{left}}  {v:>{right}}" for k, v in shown)])
