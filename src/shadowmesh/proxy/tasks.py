"""Moved to `shadowmesh.tasks` (below both proxy/ and mirror/); kept for existing imports."""

from shadowmesh.tasks import TaskGroup as TaskGroup
