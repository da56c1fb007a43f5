"""The wire helpers agree with protobuf's own conversions."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tracesvc.client.wire import to_datetime
from tracesvc.domain import privacy


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (0, 0),
        (1_790_000_000, 999_999_999),
        (1_790_000_000, 1_500),
        (-1, 999),
        (-62_135_596_800, 0),
        (253_402_300_799, 0),
    ],
)
def test_to_datetime_is_protobufs_conversion(seconds, nanos):
    ts = Timestamp(seconds=seconds, nanos=nanos)
    assert to_datetime(ts) == ts.ToDatetime(tzinfo=UTC)


def test_buyer_token_is_the_hmac_sha256_of_the_normalised_number():
    key = b"k" * 32
    expected = hmac.new(key, b"110101199001011234X", hashlib.sha256).hexdigest()
    assert privacy.buyer_token(key, " 110101199001011234x ") == expected
