"""Command line: `shadowmesh COMMAND`.

Each command lives beside the code it drives (config/commands.py, proxy/commands.py, ...)
and is imported only when invoked, so `shadowmesh validate` never pays for uvloop or the
admin server, and the CLI starts fast.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

# command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "validate": "shadowmesh.config.commands:validate",
    "run": "shadowmesh.proxy.commands:run",
    "apply": "shadowmesh.admin.commands:apply",
    "get": "shadowmesh.admin.commands:get",
    "delete": "shadowmesh.admin.commands:delete",
    "logs": "shadowmesh.admin.commands:logs",
    "load": "shadowmesh.loadgen.commands:load",
    "demo": "shadowmesh.demo.commands:demo",
    "compare": "shadowmesh.compare.commands:compare",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(
            name
            for name, target in COMMANDS.items()
            if importlib.util.find_spec(target.split(":")[0]) is not None
        )

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        if importlib.util.find_spec(module_name) is None:
            return None
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shadowmesh")
def cli() -> None:
    """Route and mirror HTTP traffic with Istio's semantics, and compare the answers."""


def main() -> None:
    cli()
