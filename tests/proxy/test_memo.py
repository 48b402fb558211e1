"""The request path's bounded memo."""

from __future__ import annotations

import pytest

from shadowmesh.memo import StrMemo
from shadowmesh.proxy.request import BadRequest, split_authority


def test_each_key_is_computed_once_and_the_memo_stays_bounded() -> None:
    calls: list[str] = []

    def upper(key: str) -> str:
        calls.append(key)
        return key.upper()

    memo = StrMemo(upper, limit=3)
    assert [memo.get(k) for k in ("a", "b", "a", "c", "b")] == ["A", "B", "A", "C", "B"]
    assert calls == ["a", "b", "c"]
    memo.get("d")  # a fourth key: it starts over rather than grow
    memo.get("a")
    assert calls == ["a", "b", "c", "d", "a"]


def test_a_failure_is_not_remembered() -> None:
    memo = StrMemo(split_authority)
    assert memo.get("Svc:8000") == ("svc", 8000)
    for _ in range(2):
        with pytest.raises(BadRequest):
            memo.get("svc:eighty")
