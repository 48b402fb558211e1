"""nginx as the backends and as the reference proxy, from configs generated into a temp dir.

Every path nginx would write (pid, error log, request/proxy temp files) points into the run's
own directory, so it runs as root or not without touching /var, and several runs (or other
nginx instances on the machine) never collide. Access logs are off everywhere, as they are for
shadowmesh, so both proxies are measured doing the same work.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.processes import Child, Supervisor
from bench.tools import pin_tree
from bench.waiting import http_get, wait_for_port

TEXT_PATH = "/text"
JSON_PATH = "/json"
STATS_PATH = "/__stats"

# Neither side should close a keep-alive connection during a run (nginx's default is 1000
# requests per connection): reconnects would be noise, not the proxy's cost.
KEEPALIVE = "keepalive_requests 1000000;\n    keepalive_timeout 75s;"


def json_body(size: int = 1024) -> bytes:
    """A deterministic JSON document of about `size` bytes."""
    items: list[str] = []
    while sum(len(i) + 1 for i in items) + 12 < size:
        n = len(items)
        items.append(f'{{"id":{n},"name":"item-{n:04d}","ok":true}}')
    return ("{" + '"items":[' + ",".join(items) + "]}\n").encode()


def _main_conf(workdir: Path, http_body: str) -> str:
    # `user` only matters when the master runs as root: workers would otherwise switch to
    # `nobody`, which cannot read the temp dir (mode 0700) that holds the body file.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""daemon off;
master_process on;
worker_processes 1;
{user}error_log {workdir}/error.log;
pid {workdir}/nginx.pid;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    {KEEPALIVE}
{http_body}}}
"""


def backend_conf(workdir: Path, port: int, body_file: Path) -> str:
    """A backend answering a short text body and a ~1 KB JSON file, plus a request counter."""
    return _main_conf(
        workdir,
        f"""    server {{
        listen 127.0.0.1:{port} default_server;
        location = {TEXT_PATH} {{
            default_type text/plain;
            return 200 "hello\\n";
        }}
        location = {JSON_PATH} {{
            default_type application/json;
            alias {body_file};
        }}
        location = {STATS_PATH} {{
            stub_status;
        }}
        location / {{
            default_type text/plain;
            return 200 "hello\\n";
        }}
    }}
""",
    )


def proxy_conf(workdir: Path, port: int, primary_port: int, shadow_port: int | None,
               access_log: Path | None = None) -> str:
    """nginx as a keep-alive reverse proxy, with `mirror` to the shadow when one is given,
    logging each request (its default `combined` format) to `access_log` when given."""
    upstreams = f"""    upstream primary {{
        server 127.0.0.1:{primary_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}
"""
    mirror = ""
    mirror_location = ""
    if shadow_port is not None:
        upstreams += f"""    upstream shadow {{
        server 127.0.0.1:{shadow_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}
"""
        mirror = "            mirror /mirror;\n"
        mirror_location = """        location = /mirror {
            internal;
            proxy_pass http://shadow$request_uri;
        }
"""
    return _main_conf(
        workdir,
        upstreams
        + f"""    server {{
        listen 127.0.0.1:{port} default_server;
        access_log {access_log if access_log is not None else "off"};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / {{
{mirror}            proxy_pass http://primary;
        }}
{mirror_location}    }}
""",
    )


def start_nginx(
    supervisor: Supervisor,
    nginx: str,
    name: str,
    conf: str,
    port: int,
    cpus: frozenset[int] | None,
    timeout_s: float = 15.0,
) -> Child:
    workdir = supervisor.workdir / name
    workdir.mkdir(exist_ok=True)
    conf_file = workdir / "nginx.conf"
    conf_file.write_text(conf)
    child = supervisor.start(
        name,
        [nginx, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf_file)],
        cpus=cpus,
    )
    if not wait_for_port(port, timeout_s, alive=child.alive):
        supervisor.stop(child)
        raise child.failure(f"did not listen on 127.0.0.1:{port} within {timeout_s:.0f}s")
    pin_tree(child.pid, cpus)
    return child


def stub_status_requests(port: int, timeout_s: float = 5.0) -> int:
    """Total requests an nginx backend has served (its `stub_status` counter)."""
    text = http_get(port, STATS_PATH, timeout_s).decode()
    # "Active connections: 1 \nserver accepts handled requests\n 3 3 3 \n..."
    counters = text.splitlines()[2].split()
    return int(counters[2])
