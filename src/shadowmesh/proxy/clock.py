"""Moved to `shadowmesh.clock` (below both proxy/ and mirror/); kept for existing imports."""

from shadowmesh.clock import monotonic as monotonic
from shadowmesh.clock import wall_time as wall_time
