"""Generated x-request-id values: valid version-4 UUIDs, unique, distinct per process."""

from __future__ import annotations

import uuid

from shadowmesh.proxy.request import RequestIds


def test_ids_are_version_4_uuids_and_unique() -> None:
    ids = RequestIds()
    seen = {ids.new() for _ in range(10_000)}
    assert len(seen) == 10_000
    for value in list(seen)[:100]:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == value


def test_two_generators_do_not_share_a_prefix() -> None:
    a, b = RequestIds(), RequestIds()
    assert a.new()[:24] != b.new()[:24]


def test_the_counter_wraps_inside_its_48_bits() -> None:
    ids = RequestIds()
    prefix = ids.new()[:24]
    ids._next = 0xFFFF_FFFF_FFFF
    assert ids.new() == prefix + "ffffffffffff"
    assert ids.new() == prefix + "000000000000"
