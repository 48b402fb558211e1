"""Istio resources as typed models: loading, validation with Istio's rules, `shadowmesh validate`.

load_paths(paths) -> LoadResult         files and directories (*.yaml, *.yml, *.json)
load_text(text, source) -> LoadResult   e.g. a body POSTed to the admin API
validate(resources) -> list[Issue]      Istio's webhook rules + analyzer-style checks
"""

from shadowmesh.config.hosts import resolve_host
from shadowmesh.config.issues import Issue, Level
from shadowmesh.config.loader import IgnoredDocument, LoadResult, load_paths, load_text
from shadowmesh.config.resource import API_VERSIONS, Metadata, Resource, Source
from shadowmesh.config.validation import validate

__all__ = [
    "API_VERSIONS",
    "IgnoredDocument",
    "Issue",
    "Level",
    "LoadResult",
    "Metadata",
    "Resource",
    "Source",
    "load_paths",
    "load_text",
    "resolve_host",
    "validate",
]
