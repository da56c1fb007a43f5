"""Wire helpers every proto producer shares (servicers, the simulator, the demo, tests).

Only protobuf's well-known types: importing this never pulls in grpc or the servicers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(ts: Timestamp) -> datetime:
    """What `ts.ToDatetime(tzinfo=UTC)` returns (microseconds rounded toward zero), without its
    pure-Python conversion: once per event on the ingest path. For valid timestamps only (nanos
    0–999,999,999, years 1–9999): every caller checks them first (`hygiene.timestamp_problem`)."""
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=int(ts.nanos / 1000))


def to_timestamp(dt: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts
