"""Grouping outcomes by correlation id until a group is complete or too old.

A group is complete when its primary and the `copies` copy outcomes it announced have
arrived (in any order). Groups still open after the mirror timeout (plus a grace period
for the hand-off) are closed incomplete. The number of open groups is bounded: the oldest
is closed first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from shadowmesh.mirror.outcomes import CopyOutcome, PrimaryOutcome


class Group:
    __slots__ = ("copies", "opened", "primary")

    def __init__(self, opened: float) -> None:
        self.primary: PrimaryOutcome | None = None
        self.copies: list[CopyOutcome] = []
        self.opened = opened

    @property
    def complete(self) -> bool:
        return self.primary is not None and len(self.copies) >= self.primary.copies


class Pairing:
    def __init__(self, timeout: float, max_open: int, clock: Callable[[], float]) -> None:
        self.timeout = timeout
        self.max_open = max_open
        self.clock = clock
        self.open: OrderedDict[int, Group] = OrderedDict()

    def __repr__(self) -> str:
        return f"<Pairing {len(self.open)} open>"

    def _group(self, cid: int) -> Group:
        group = self.open.get(cid)
        if group is None:
            group = self.open[cid] = Group(self.clock())
        return group

    def add(self, outcome: PrimaryOutcome | CopyOutcome) -> Group | None:
        """The group, if this outcome completed it (it is then removed)."""
        group = self._group(outcome.cid)
        if isinstance(outcome, PrimaryOutcome):
            group.primary = outcome
        else:
            group.copies.append(outcome)
        if group.complete:
            del self.open[outcome.cid]
            return group
        return None

    def expire(self) -> list[Group]:
        """Groups past the timeout, or beyond the bound (oldest first)."""
        now = self.clock()
        out: list[Group] = []
        while self.open:
            cid, group = next(iter(self.open.items()))
            if now - group.opened <= self.timeout and len(self.open) <= self.max_open:
                break
            del self.open[cid]
            out.append(group)
        return out
