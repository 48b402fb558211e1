"""kubectl-style commands that talk to a running shadowmesh's admin API:
`apply -f`, `get`, `delete`, `logs`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from shadowmesh.admin.client import ADMIN_ENV, DEFAULT_ADMIN, AdminClient, AdminError
from shadowmesh.admin.guard import TOKEN_ENV
from shadowmesh.admin.kinds import GROUP, KindInfo, UnknownKind, resolve_kind
from shadowmesh.admin.printers import as_json, as_yaml, table
from shadowmesh.config.documents import read_paths

F = TypeVar("F", bound=Callable[..., Any])

FOLLOW_INTERVAL_S = 1.0
_sleep = time.sleep  # replaced in tests to end a `logs -f`


def admin_options(fn: F) -> F:
    fn = click.option(
        "--token",
        envvar=TOKEN_ENV,
        default=None,
        help=f"Admin token for writes (or ${TOKEN_ENV}).",
    )(fn)
    fn = click.option(
        "--admin",
        "admin_url",
        envvar=ADMIN_ENV,
        default=DEFAULT_ADMIN,
        show_default=True,
        help=f"Admin API of the running shadowmesh (or ${ADMIN_ENV}).",
    )(fn)
    return fn


class CommandError(click.ClickException):
    """Exit status 1 with the message shown as is (kubectl's wording carries its own prefix)."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True)


def _fail(message: str) -> CommandError:
    return CommandError(message)


def _issue_text(issue: dict[str, Any]) -> str:
    return str(issue.get("text") or issue.get("message"))


def _print_warnings(body: dict[str, Any]) -> None:
    for issue in body.get("issues", []):
        if issue.get("level") == "warning":
            click.echo(f"Warning: {_issue_text(issue)}", err=True)


def _config_files(target: str) -> Iterator[tuple[str, str]]:
    """(source name, text) for a file, `-` (stdin), or a directory (recursive, sorted)."""
    if target == "-":
        yield "<stdin>", sys.stdin.read()
        return
    if not Path(target).exists():
        raise _fail(f'the path "{target}" does not exist')
    texts, issues = read_paths([target])
    if not texts:
        raise _fail(f"no .yaml, .yml or .json files in {target}")
    for issue in issues:
        if issue.is_error:
            raise _fail(str(issue))
    yield from texts


@click.command()
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    required=True,
    help="File, directory (recursive) or - for stdin; repeatable.",
)
@admin_options
def apply(filenames: tuple[str, ...], admin_url: str, token: str | None) -> None:
    """Apply Istio resources to a running shadowmesh, like `kubectl apply -f`.

    Each file is applied all or nothing: a file with an invalid resource changes nothing and
    its Istio validation messages are printed (exit status 1).
    """
    failed = False
    with AdminClient(admin_url, token) as client:
        for target in filenames:
            for source, text in _config_files(target):
                try:
                    status, body = client.apply(text, source)
                except AdminError as exc:
                    raise _fail(f"error when applying {source!r}: {exc.message}") from exc
                _print_warnings(body)
                if status == 200:
                    for line in body.get("changed", []):
                        click.echo(line)
                    continue
                failed = True
                click.echo(
                    f'Error from server: error when applying "{source}": configuration is invalid:',
                    err=True,
                )
                for issue in body.get("issues", []):
                    if issue.get("level") == "error":
                        click.echo(f"  {_issue_text(issue)}", err=True)
    if failed:
        sys.exit(1)


def _kind_or_fail(kind: str) -> KindInfo:
    try:
        return resolve_kind(kind)
    except UnknownKind as exc:
        raise _fail(str(exc)) from exc


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-o", "--output", type=click.Choice(["yaml", "json", "wide"]), default=None)
@admin_options
def get(
    kind: str,
    name: str | None,
    namespace: str,
    all_namespaces: bool,
    output: str | None,
    admin_url: str,
    token: str | None,
) -> None:
    """Show resources in force: KIND is virtualservice|vs, destinationrule|dr,
    serviceentry|se, workloadentry|we or gateway|gw (singular or plural); `kubernetes`
    shows the API-server watches and the custom resources they rejected."""
    if kind.lower() in ("kubernetes", "k8s"):
        _get_kubernetes(admin_url, token, output)
        return
    info = _kind_or_fail(kind)
    with AdminClient(admin_url, token) as client:
        try:
            if name is not None:
                items = [client.get(info.plural, namespace, name)]
            else:
                items = client.list(info.plural, None if all_namespaces else namespace)
        except AdminError as exc:
            reason = "NotFound" if exc.status == 404 else None
            prefix = f"Error from server ({reason}): " if reason else "error: "
            raise _fail(prefix + exc.message) from exc
    if output in ("yaml", "json"):
        data: Any = items[0] if name is not None else {"apiVersion": "v1", "kind": "List"}
        if name is None:
            data["items"] = items
        click.echo(as_yaml(data) if output == "yaml" else as_json(data), nl=output == "json")
        return
    if not items:
        where = "" if all_namespaces else f" in {namespace} namespace"
        click.echo(f"No resources found{where}.", err=True)
        return
    click.echo(table(items, info.kind, wide=output == "wide", all_namespaces=all_namespaces))


def _get_kubernetes(admin_url: str, token: str | None, output: str | None) -> None:
    from shadowmesh.admin.printers import kubernetes_status

    with AdminClient(admin_url, token) as client:
        try:
            _, body = client.request("GET", "/api/v1/kubernetes")
        except AdminError as exc:
            raise _fail(f"error: {exc.message}") from exc
    if output in ("yaml", "json"):
        click.echo(as_yaml(body) if output == "yaml" else as_json(body), nl=output == "json")
        return
    click.echo(kubernetes_status(body))


@click.command()
@click.argument("kind")
@click.argument("name")
@click.option("-n", "--namespace", default="default", show_default=True)
@admin_options
def delete(kind: str, name: str, namespace: str, admin_url: str, token: str | None) -> None:
    """Delete one resource from a running shadowmesh, like `kubectl delete KIND NAME`."""
    info = _kind_or_fail(kind)
    with AdminClient(admin_url, token) as client:
        try:
            status, body = client.delete(info.plural, namespace, name)
        except AdminError as exc:
            reason = "NotFound" if exc.status == 404 else "Forbidden" if exc.status == 403 else None
            prefix = f"Error from server ({reason}): " if reason else "error: "
            raise _fail(prefix + exc.message) from exc
    _print_warnings(body)
    if status != 200:
        errors = [_issue_text(i) for i in body.get("issues", []) if i.get("level") == "error"]
        raise _fail("Error from server: the deletion was refused: " + "; ".join(errors))
    click.echo(f'{info.singular}.{GROUP} "{name}" deleted')


@click.command()
@click.argument("workload")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--since", default=None, help="Only lines newer than this, e.g. 30s, 5m, 1h.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines (-1: all kept).")
@admin_options
def logs(
    workload: str,
    follow: bool,
    since: str | None,
    tail: int,
    admin_url: str,
    token: str | None,
) -> None:
    """Print a workload's recent access-log lines (e.g. httpbin-v2), like `kubectl logs`."""
    with AdminClient(admin_url, token) as client:
        try:
            body = client.logs(workload, since=since, tail=tail if tail >= 0 else None)
            _print_lines(body)
            while follow:
                _sleep(FOLLOW_INTERVAL_S)
                body = client.logs(workload, after=body["cursor"])
                _print_lines(body)
        except AdminError as exc:
            raise _fail(f"error: {exc.message}") from exc
        except KeyboardInterrupt:
            return


def _print_lines(body: dict[str, Any]) -> None:
    for line in body.get("lines", []):
        click.echo(line)
    sys.stdout.flush()
