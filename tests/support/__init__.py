"""Test support: real backends on loopback, `shadowmesh run` as a subprocess, YAML builders.

    backends.py       httpbin under gunicorn (with an access log), closed ports
    recorder.py       a recording HTTP server whose answers each test scripts
    responder.py      the answers it can give (`Behavior`: status, delay, chunked, close, ...)
    proxy.py          ShadowmeshProcess: start, ports from stderr, reload, graceful stop
    accesslog.py      reading its access log (Envoy response flags) back
    rawhttp.py        a raw-socket HTTP/1.1 client for what httpx will not send
    yaml_builders.py  ServiceEntry/WorkloadEntry/DestinationRule/VirtualService documents
    mesh.py           one service with N recorded versions behind a running proxy
    fixtures.py       the pytest fixtures tying them together (registered in tests/conftest.py)
"""
