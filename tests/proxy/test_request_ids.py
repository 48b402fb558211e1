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
    ids._set_next(0xFFFF_FFFF_FFFE)
    assert ids.new() == prefix + "fffffffffffe"
    assert ids.new() == prefix + "ffffffffffff"
    assert ids.new() == prefix + "000000000000"
    assert ids.new() == prefix + "000000000001"


def test_ids_stay_consecutive_across_the_cached_upper_digits() -> None:
    ids = RequestIds()
    ids._set_next(0x0000_0ABC_DFFD)
    tails = [ids.new()[24:] for _ in range(5)]
    assert tails == ["00000abcdffd", "00000abcdffe", "00000abcdfff", "00000abce000",
                     "00000abce001"]
