"""A Gateway HTTPS server's certificate renewed several times under load, the way a mounted
Kubernetes secret is (`DIR/<name>` a symlink swapped in one rename), each renewal followed
by a SIGHUP or by nothing at all (the file watcher sees the renewed files itself): no
request fails, new handshakes present the new certificate, and keep-alive connections
opened before the first renewal finish on theirs."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.support import yaml_builders as yb
from tests.support.certs import CA, Pair
from tests.support.fixtures import StartProxy
from tests.support.recorder import RecordingServer

pytestmark = pytest.mark.e2e

HOST = "shop.example.com"
RENEWALS = 3
KEEPALIVE_CLIENTS = 4
NEW_CONNECTION_CLIENTS = 3
MAX_REQUESTS = 2000  # per client: the load is bounded in count and in time
TIME_LIMIT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install(creds: Path, generation: int, pair: Pair, ca: CA) -> None:
    """Put `pair` in force as `creds/gw`: a new directory, then one atomic rename of the
    symlink that names it (what the kubelet does with `..data`)."""
    data = creds / f"..gen{generation}"
    data.mkdir()
    shutil.copy(pair.cert, data / "tls.crt")
    shutil.copy(pair.key, data / "tls.key")
    shutil.copy(ca.cert, data / "ca.crt")
    link = creds / f".gw-{generation}"
    link.symlink_to(data.name)
    os.replace(link, creds / "gw")


@dataclass
class Tally:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    # (handshake started, finished, the certificate's generation) of new connections
    handshakes: list[tuple[float, float, int]] = field(default_factory=list)


def common_name(writer: asyncio.StreamWriter) -> str:
    cert = writer.get_extra_info("peercert") or {}
    return next(v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName")


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str,
                   close: bool) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n"
                 f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def keep_alive_client(port: int, ctx: ssl.SSLContext, tally: Tally, stop: asyncio.Event,
                            opened: list[str]) -> None:
    """One connection for the whole run: its requests span every renewal."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                   server_hostname=HOST)
    opened.append(common_name(writer))
    try:
        for i in range(MAX_REQUESTS):
            last = stop.is_set()
            try:
                status = await asyncio.wait_for(exchange(reader, writer, f"/k{i}", last), 10)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                tally.failures.append(f"keep-alive /k{i}: {exc!r}")
                return
            if status == 200:
                tally.ok += 1
            else:
                tally.failures.append(f"keep-alive /k{i}: {status}")
            if last:
                return
            await asyncio.sleep(0.005)
    finally:
        writer.close()


async def new_connection_client(port: int, ctx: ssl.SSLContext, tally: Tally,
                                stop: asyncio.Event) -> None:
    """A new TLS connection for every request."""
    for i in range(MAX_REQUESTS):
        if stop.is_set():
            return
        start = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname=HOST), 10)
        except (OSError, TimeoutError) as exc:
            tally.failures.append(f"connect /n{i}: {exc!r}")
            continue
        try:
            tally.handshakes.append((start, time.monotonic(), int(common_name(writer)[3:])))
            status = await asyncio.wait_for(exchange(reader, writer, f"/n{i}", True), 10)
            if status == 200:
                tally.ok += 1
            else:
                tally.failures.append(f"new connection /n{i}: {status}")
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            tally.failures.append(f"new connection /n{i}: {exc!r}")
        finally:
            writer.close()


@pytest.mark.parametrize("trigger", ["sighup", "watched"])
def test_renewed_certificates_under_load_fail_no_request(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy, tmp_path: Path,
    trigger: str,
) -> None:
    web = backend("web")
    ca = CA(tmp_path, "ca")
    generations = [ca.issue(f"gen{g}", dns=(HOST,)) for g in range(RENEWALS + 1)]
    creds = tmp_path / "creds"
    creds.mkdir()
    install(creds, 0, generations[0], ca)
    port = free_port()
    gateway = {
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "edge"},
        "spec": {"servers": [{"port": {"number": port, "name": "https", "protocol": "HTTPS"},
                              "hosts": [HOST],
                              "tls": {"mode": "SIMPLE", "credentialName": "gw"}}]},
    }
    vs = yb.virtual_service("web", [yb.to("web")], hosts=[HOST], name="web-ingress")
    vs["spec"]["gateways"] = ["edge"]
    proxy = start_proxy(yb.dump([yb.service_entry("web", endpoints=[yb.endpoint(web.port)]),
                                 gateway, vs]), "--credentials-dir", str(creds),
                        # SIGHUP alone, or the watcher alone
                        "--watch-interval", "1h" if trigger == "sighup" else "200ms",
                        "--reload-debounce", "100ms")
    assert proxy.wait_stderr(rf"gateway default/edge listening on https://127\.0\.0\.1:{port}")
    ctx = ssl.create_default_context(cafile=ca.cert)

    async def scenario() -> tuple[Tally, list[str], list[float]]:
        tally, stop, opened = Tally(), asyncio.Event(), []
        keep = [asyncio.create_task(keep_alive_client(port, ctx, tally, stop, opened))
                for _ in range(KEEPALIVE_CLIENTS)]
        while len(opened) < KEEPALIVE_CLIENTS and not any(t.done() for t in keep):
            await asyncio.sleep(0.01)
        fresh = [asyncio.create_task(new_connection_client(port, ctx, tally, stop))
                 for _ in range(NEW_CONNECTION_CLIENTS)]
        presented = []
        try:
            for g in range(1, RENEWALS + 1):
                await asyncio.sleep(0.3)  # load on the certificate in force
                mark = proxy.stderr_mark()
                install(creds, g, generations[g], ca)
                if trigger == "sighup":
                    proxy.reload()
                line = await asyncio.to_thread(
                    proxy.wait_stderr, "configuration (reloaded|change rejected)", 10, mark)
                assert line is not None and "reloaded" in line, proxy.stderr
                # the renewal is in force once a new handshake presents it
                for _ in range(250):
                    if any(gen == g for _, _, gen in tally.handshakes[-NEW_CONNECTION_CLIENTS:]):
                        presented.append(g)
                        break
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*keep, *fresh), TIME_LIMIT)
        return tally, opened, presented

    tally, opened, presented = asyncio.run(asyncio.wait_for(scenario(), TIME_LIMIT))
    assert tally.failures == []
    assert tally.ok == web.count() and tally.ok > 0
    # the access log names the SNI of every request's connection (%REQUESTED_SERVER_NAME%,
    # next to last in Envoy's default format)
    entries = proxy.wait_access(lambda e: e.status == 200, tally.ok)
    assert {e.raw.split()[-2] for e in entries} == {HOST}
    # every renewal reached new handshakes soon after its reload
    assert presented == list(range(1, RENEWALS + 1))
    # the keep-alive connections came before every renewal and kept their certificate to
    # the end (each sent its last request with `Connection: close` and got its answer)
    assert opened == ["gen0"] * KEEPALIVE_CLIENTS
    # never an older certificate again: a handshake that began after another one had
    # finished presents that one's generation or a later one
    ends = sorted((end, gen) for _, end, gen in tally.handshakes)
    newest, i = 0, 0
    for start, _, gen in sorted(tally.handshakes):
        while i < len(ends) and ends[i][0] < start:
            newest = max(newest, ends[i][1])
            i += 1
        assert gen >= newest, (start, gen, newest)
