"""Moved to `shadowmesh.memo` (below both proxy/ and mirror/); kept for existing imports."""

from shadowmesh.memo import StrMemo as StrMemo
