"""Loading Istio resources from files, directories or text, as `kubectl apply -f` reads them.

Documents of other kinds (Deployments, Services, ...) are set aside in
`LoadResult.ignored` with a note, so a whole tutorial manifest can be pointed at. Problems
never raise: they are `Issue`s in file order, and `LoadResult.ok` says whether any of them
is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shadowmesh.config.decoding import decode_spec
from shadowmesh.config.documents import RawDocument, parse_text, read_paths
from shadowmesh.config.issues import Issue
from shadowmesh.config.resource import (
    DEFAULT_NAMESPACE,
    GROUP,
    SPEC_TYPES,
    Metadata,
    Resource,
    Source,
    group_versions,
)
from shadowmesh.config.validation import validate_each

TOP_LEVEL_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})


@dataclass(frozen=True, slots=True)
class IgnoredDocument:
    """A well-formed document of a kind shadowmesh does not model."""

    file: str
    index: int
    api_version: str
    kind: str
    namespace: str
    name: str
    note: str  # "ignored: apps/v1 Deployment default/httpbin-v1 is not an Istio ..."
    item: int | None = None


@dataclass
class LoadResult:
    resources: list[Resource] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    ignored: list[IgnoredDocument] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No issue is an error (warnings are allowed)."""
        return not any(issue.is_error for issue in self.issues)

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [issue for issue in self.issues if not issue.is_error]


def load_paths(
    paths: Sequence[str | Path],
    *,
    validate: bool = True,
    default_namespace: str = DEFAULT_NAMESPACE,
) -> LoadResult:
    """Load files and directories (recursively `*.yaml|*.yml|*.json`, sorted by path)."""
    texts, unreadable = read_paths(paths)
    result = load_texts(texts, validate=validate, default_namespace=default_namespace)
    result.issues[:0] = unreadable
    return result


def load_text(
    text: str,
    source: str = "<text>",
    *,
    validate: bool = True,
    default_namespace: str = DEFAULT_NAMESPACE,
) -> LoadResult:
    """Load one text (e.g. a body POSTed to the admin API); `source` names it in issues."""
    return load_texts([(source, text)], validate=validate, default_namespace=default_namespace)


# Sort key that puts issues in file order: (file rank, document, List item).
_Position = tuple[int, int, int]


def load_texts(
    texts: Sequence[tuple[str, str]],
    *,
    validate: bool = True,
    default_namespace: str = DEFAULT_NAMESPACE,
) -> LoadResult:
    """Load several (source, text) pairs as one set, validated together."""
    result = LoadResult()
    positioned: list[tuple[_Position, Issue]] = []
    rank = {file: n for n, (file, _) in enumerate(texts)}
    for file, text in texts:
        documents, syntax = parse_text(text, file)
        for document in documents:
            decoded = _Decoder(document, default_namespace, result)
            for item, issue in decoded.run():
                positioned.append(((rank[file], document.index, item), issue))
        for issue in syntax:  # after the documents read before the error
            positioned.append(((rank[file], len(documents), -1), issue))
    if validate:
        for resource, issues in zip(result.resources, validate_each(result.resources), strict=True):
            position = (rank[resource.source.file], resource.source.index, _item(resource.source))
            positioned.extend((position, issue) for issue in issues)
    positioned.sort(key=lambda pair: pair[0])  # stable: keeps each document's own order
    result.issues = [issue for _, issue in positioned]
    return result


def _item(source: Source) -> int:
    return -1 if source.item is None else source.item


class _Decoder:
    """Turns one YAML document (or each item of a `kind: List`) into a Resource."""

    def __init__(self, document: RawDocument, default_namespace: str, result: LoadResult):
        self.document = document
        self.default_namespace = default_namespace
        self.result = result
        self.issues: list[tuple[int, Issue]] = []

    def run(self) -> list[tuple[int, Issue]]:
        data = self.document.data
        if data is None:
            return []  # empty document
        if isinstance(data, Mapping) and _is_list(data):
            items = data.get("items") or []
            if not isinstance(items, list):
                self._error(None, None, "items", "expected a list of objects")
                return self.issues
            for n, item in enumerate(items):
                self._object(item, n)
        else:
            self._object(data, None)
        return self.issues

    def _line(self, item: int | None) -> int | None:
        if item is not None and item < len(self.document.item_lines):
            return self.document.item_lines[item]
        return self.document.line

    def _error(self, item: int | None, document: str | None, path: str | None, msg: str) -> None:
        issue = Issue("error", msg, self.document.file, document, path, line=self._line(item))
        self.issues.append((-1 if item is None else item, issue))

    def _object(self, data: Any, item: int | None) -> None:
        if not isinstance(data, Mapping):
            got = "a list" if isinstance(data, list) else type(data).__name__
            self._error(
                item,
                None,
                None,
                f"expected a Kubernetes object with apiVersion and kind, got {got}",
            )
            return
        api_version, kind = data.get("apiVersion"), data.get("kind")
        missing = [
            f"{name} not set"
            for name, value in (("apiVersion", api_version), ("kind", kind))
            if not isinstance(value, str) or not value
        ]
        if missing:
            self._error(item, None, None, ", ".join(missing))
            return
        assert isinstance(api_version, str) and isinstance(kind, str)
        metadata = data.get("metadata")
        name, namespace = _name_and_namespace(metadata, self.default_namespace)
        label = f"{kind} {namespace}/{name or '<unnamed>'}"
        group, _, version = api_version.rpartition("/")
        kind_group, versions = group_versions(kind)
        if kind not in SPEC_TYPES or group != kind_group:
            why = (
                "is not supported by shadowmesh"
                if group == GROUP
                else "is not an Istio networking resource"
            )
            note = f"ignored: {api_version} {label} {why}"
            self.result.ignored.append(
                IgnoredDocument(
                    self.document.file,
                    self.document.index,
                    api_version,
                    kind,
                    namespace,
                    name or "",
                    note,
                    item,
                )
            )
            return
        if version not in versions:
            self._error(
                item,
                label,
                "apiVersion",
                f'no matches for kind "{kind}" in version "{api_version}" '
                f"(known versions: {', '.join(versions)})",
            )
            return
        unknown = sorted(set(data) - TOP_LEVEL_FIELDS, key=str)
        problems = [(str(key), f'unknown field "{key}"') for key in unknown]
        problems += _metadata_problems(metadata)
        spec, spec_problems = decode_spec(SPEC_TYPES[kind], data.get("spec"))
        problems += spec_problems
        for path, msg in problems:
            self._error(item, label, path, msg)
        if problems or spec is None or not name:
            return
        assert isinstance(metadata, Mapping)
        self.result.resources.append(
            Resource(
                api_version=api_version,
                kind=kind,
                metadata=Metadata(
                    name=name,
                    namespace=namespace,
                    labels=dict(metadata.get("labels") or {}),
                    annotations=dict(metadata.get("annotations") or {}),
                ),
                spec=spec,
                source=Source(self.document.file, self.document.index, self._line(item), item),
            )
        )


def _is_list(data: Mapping[str, Any]) -> bool:
    kind = data.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and "items" in data


def _name_and_namespace(metadata: Any, default_namespace: str) -> tuple[str | None, str]:
    if not isinstance(metadata, Mapping):
        return None, default_namespace
    name, namespace = metadata.get("name"), metadata.get("namespace")
    return (
        name if isinstance(name, str) and name else None,
        namespace if isinstance(namespace, str) and namespace else default_namespace,
    )


def _metadata_problems(metadata: Any) -> list[tuple[str, str]]:
    if metadata is None:
        return [("metadata.name", "resource name may not be empty")]
    if not isinstance(metadata, Mapping):
        return [("metadata", "expected an object")]
    problems: list[tuple[str, str]] = []
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        problems.append(("metadata.name", "resource name may not be empty"))
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        problems.append(("metadata.namespace", "expected a string"))
    for field_name in ("labels", "annotations"):
        values = metadata.get(field_name)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            problems.append((f"metadata.{field_name}", "expected an object"))
            continue
        for key, value in values.items():
            if not isinstance(value, str):
                problems.append((f"metadata.{field_name}[{key}]", "expected a string"))
    return problems
