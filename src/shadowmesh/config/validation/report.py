"""Field paths in the user's spelling, and the per-resource collector of issues."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shadowmesh.config.issues import Issue, Level
from shadowmesh.config.models import IstioModel
from shadowmesh.config.resource import Resource


@dataclass(frozen=True, slots=True)
class FieldPath:
    """`spec.http[0].mirrorPercentage.value`: fields dotted, indices and map keys bracketed."""

    text: str

    def field(self, model: IstioModel, name: str) -> FieldPath:
        """The child field `name` (attribute name), spelled as the document wrote it."""
        return FieldPath(f"{self.text}.{model.spelled(name)}")

    def at(self, index: int) -> FieldPath:
        return FieldPath(f"{self.text}[{index}]")

    def key(self, key: str) -> FieldPath:
        return FieldPath(f"{self.text}[{key}]")

    def __str__(self) -> str:
        return self.text


SPEC = FieldPath("spec")


class Report:
    """Collects the issues found in one resource."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.issues: list[Issue] = []

    def add(
        self, level: Level, path: FieldPath | None, message: str, code: str | None = None
    ) -> None:
        self.issues.append(
            Issue(
                level=level,
                message=message,
                file=self.resource.source.file,
                document=self.resource.label,
                path=None if path is None else path.text,
                code=code,
                line=self.resource.source.line,
            )
        )

    def error(self, path: FieldPath | None, message: str | None) -> None:
        """Record `message` as an error; None (a check that passed) is ignored."""
        if message is not None:
            self.add("error", path, message)

    def errors(self, path: FieldPath | None, messages: Iterable[str]) -> None:
        for message in messages:
            self.add("error", path, message)

    def warning(self, path: FieldPath | None, message: str | None, code: str | None = None) -> None:
        if message is not None:
            self.add("warning", path, message, code)
