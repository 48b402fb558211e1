"""`shadowmesh validate -f PATH...`: check Istio YAML with Istio's rules before using it.

Exit status: 0 when there is no error (warnings allowed), 1 when there is one, 2 for a
usage error (click's convention).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import click

from shadowmesh.config.documents import read_paths
from shadowmesh.config.loader import LoadResult, load_texts


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def summary(result: LoadResult) -> str:
    """`3 resources valid, 1 warning` or `2 errors, 1 warning`."""
    errors, warnings = len(result.errors), len(result.warnings)
    parts = (
        [_plural(errors, "error")]
        if errors
        else [f"{_plural(len(result.resources), 'resource')} valid"]
    )
    if warnings:
        parts.append(_plural(warnings, "warning"))
    if result.ignored:
        parts.append(f"{_plural(len(result.ignored), 'document')} ignored")
    return ", ".join(parts)


def as_json(result: LoadResult) -> dict[str, Any]:
    """A stable document: keys sorted when dumped, lists in file order."""
    return {
        "valid": result.ok,
        "resources": [
            {
                "apiVersion": r.api_version,
                "kind": r.kind,
                "namespace": r.namespace,
                "name": r.name,
                "file": r.source.file,
                "index": r.source.index,
                "line": r.source.line,
                "item": r.source.item,
            }
            for r in result.resources
        ],
        "issues": [dataclasses.asdict(issue) for issue in result.issues],
        "ignored": [
            {
                "apiVersion": doc.api_version,
                "kind": doc.kind,
                "namespace": doc.namespace,
                "name": doc.name,
                "file": doc.file,
                "index": doc.index,
                "item": doc.item,
                "note": doc.note,
            }
            for doc in result.ignored
        ],
    }


@click.command(name="validate")
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    required=True,
    help="File or directory to read (repeatable; directories are read recursively; - is stdin).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def validate(filenames: tuple[str, ...], output: str) -> None:
    """Validate Istio resources with Istio's rules and messages."""
    texts, unreadable = read_paths([name for name in filenames if name != "-"])
    if "-" in filenames:
        texts.append(("<stdin>", sys.stdin.read()))
    result = load_texts(texts)
    result.issues[:0] = unreadable
    if output == "json":
        click.echo(json.dumps(as_json(result), indent=2, sort_keys=True))
    else:
        for issue in result.issues:
            click.echo(str(issue))
        for doc in result.ignored:
            click.echo(f"{doc.file}: {doc.note}")
        click.echo(summary(result))
    sys.exit(0 if result.ok else 1)
