"""The benchmark harness: shadowmesh against direct access and nginx, in one session.

`python -m bench --help` (or `make bench ARGS=...`); see bench/README.md.
"""
