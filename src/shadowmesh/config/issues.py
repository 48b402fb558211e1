"""What loading and validation report: one `Issue` per problem, with where it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Issue:
    level: Level
    message: str  # Istio's wording where Istio has one
    file: str | None = None
    document: str | None = None  # "VirtualService default/httpbin"
    path: str | None = None  # "spec.http[0].mirrorPercentage.value", as the user spelled it
    code: str | None = None  # istioctl analyze code, e.g. "IST0101"
    line: int | None = None  # 1-based; for syntax errors, or the start of the document

    @property
    def is_error(self) -> bool:
        return self.level == "error"

    def __str__(self) -> str:
        """`error: f.yaml: VirtualService default/x: spec.http[0]: message`."""
        parts: list[str] = [self.level]
        if self.file is not None:
            # a line only helps when there is no document and path to point with
            show_line = self.line is not None and self.document is None
            parts.append(f"{self.file}:{self.line}" if show_line else self.file)
        if self.document:
            parts.append(self.document)
        if self.path:
            parts.append(self.path)
        message = f"[{self.code}] {self.message}" if self.code else self.message
        return ": ".join(parts) + ": " + message
