"""Bounds on a configuration body before it is parsed for real.

A YAML (or JSON) body can cost far more than its size: 200,000 nested `[` make the
recursive composer and the model decoding raise RecursionError, and a few lines of anchors
and aliases ("billion laughs") expand to billions of nodes once decoded. So a posted body is
first read as a stream of parse events, which needs no recursion and builds nothing, and
refused with a clear reason when it nests deeper than `max_depth` collections or would
expand, aliases included, to more than `max_nodes` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

# Deeper than any Istio resource (a VirtualService is about a dozen levels).
DEFAULT_MAX_DEPTH = 64
# Nodes after expanding aliases; a large real configuration has some tens of thousands.
DEFAULT_MAX_NODES = 500_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class ShapeError(ValueError):
    """The document is too deep or too large to be decoded safely."""


@dataclass(frozen=True)
class DocumentBounds:
    max_depth: int = DEFAULT_MAX_DEPTH
    max_nodes: int = DEFAULT_MAX_NODES

    def check(self, text: str) -> None:
        """Raise ShapeError when `text` breaks a bound. Syntax errors are left to the real
        parser, which reports them with positions."""
        try:
            self._walk(text, _Loader)
        except yaml.YAMLError:
            # libyaml reads ahead and may fail (e.g. on its own nesting limit) before it
            # yields the events that break a bound; the pure-Python parser yields them as
            # it goes, so it finds the breach first if there is one.
            try:
                self._walk(text, yaml.SafeLoader)
            except yaml.YAMLError:
                return

    def _walk(self, text: str, loader: type) -> None:
        depth = 0
        nodes = 0
        # anchor -> expanded size; open anchored collections: (anchor, nodes at their start)
        sizes: dict[str, int] = {}
        open_anchors: list[tuple[str | None, int]] = []
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, _OPEN):
                depth += 1
                nodes += 1
                if depth > self.max_depth:
                    raise ShapeError(f"the document nests deeper than {self.max_depth} levels")
                open_anchors.append((event.anchor, nodes - 1))
            elif isinstance(event, _CLOSE):
                depth -= 1
                if open_anchors:
                    anchor, start = open_anchors.pop()
                    if anchor is not None:
                        sizes[anchor] = nodes - start
            elif isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                nodes += sizes.get(event.anchor or "", 1)
            if nodes > self.max_nodes:
                raise ShapeError(
                    f"the document expands to more than {self.max_nodes} nodes "
                    "(aliases included)"
                )
