"""Reading files into documents: paths -> texts -> YAML/JSON documents with line numbers.

Syntax problems become `Issue`s with file and line (`yaml: line 7: mapping values are not
allowed here`), never exceptions, so one bad file does not hide the others' problems.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shadowmesh.config.issues import Issue

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class RawDocument:
    file: str
    index: int  # 0-based document number within the file, empty documents included
    line: int | None  # 1-based first line of the document
    data: Any  # what YAML/JSON produced; None for an empty document
    item_lines: tuple[int, ...] = ()  # first line of each `items:` entry, for `kind: List`


def expand_paths(paths: Sequence[str | Path]) -> tuple[list[Path], list[Issue]]:
    """Files named directly, and `*.yaml|*.yml|*.json` under directories (recursive, sorted)."""
    files: list[Path] = []
    issues: list[Issue] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # Hidden entries are skipped: a mounted Kubernetes ConfigMap keeps each file twice,
            # as `name.yaml` and under the `..data` / `..<timestamp>` directories it swaps.
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES
                           and not any(part.startswith(".")
                                       for part in p.relative_to(path).parts))
            if not found:
                issues.append(Issue("warning", "no .yaml, .yml or .json files", file=str(path)))
            files.extend(found)
        elif path.is_file():
            files.append(path)  # named explicitly: read it whatever its suffix
        else:
            issues.append(Issue("error", "no such file or directory", file=str(path)))
    return files, issues


def read_paths(paths: Sequence[str | Path]) -> tuple[list[tuple[str, str]], list[Issue]]:
    """(file, text) for every file `expand_paths` finds; unreadable files become issues."""
    files, issues = expand_paths(paths)
    texts: list[tuple[str, str]] = []
    for path in files:
        try:
            texts.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue("error", f"cannot read file: {exc}", file=str(path)))
    return texts, issues


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key repeated in one mapping, as Kubernetes' decoder does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'key "{key}" already set in map', key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_text(text: str, file: str) -> tuple[list[RawDocument], list[Issue]]:
    """Split a file's text into documents; JSON files (by suffix) are parsed as JSON."""
    if file.endswith(".json"):
        return _parse_json(text, file)
    return _parse_yaml(text, file)


def _parse_json(text: str, file: str) -> tuple[list[RawDocument], list[Issue]]:
    try:
        data = json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        return [], [Issue("error", f"json: {exc.msg}", file=file, line=exc.lineno)]
    return [RawDocument(file, 0, 1, data)], []


def _parse_yaml(text: str, file: str) -> tuple[list[RawDocument], list[Issue]]:
    documents: list[RawDocument] = []
    loader = _StrictLoader(text)
    try:
        for index, node in enumerate(_nodes(loader)):
            data = loader.construct_document(node)
            line = node.start_mark.line + 1 if node is not None else None
            documents.append(RawDocument(file, index, line, data, _item_lines(node)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        message = f"yaml: line {line}: {problem}" if line else f"yaml: {problem}"
        return documents, [Issue("error", message, file=file, line=line)]
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        return documents, [Issue("error", f"yaml: {exc}", file=file)]
    finally:
        loader.dispose()
    return documents, []


def _nodes(loader: _StrictLoader) -> Iterator[yaml.Node | None]:
    while loader.check_node():
        yield loader.get_node()


def _item_lines(node: yaml.Node | None) -> tuple[int, ...]:
    if not isinstance(node, yaml.MappingNode):
        return ()
    for key, value in node.value:
        is_items = isinstance(key, yaml.ScalarNode) and key.value == "items"
        if is_items and isinstance(value, yaml.SequenceNode):
            return tuple(item.start_mark.line + 1 for item in value.value)
    return ()
