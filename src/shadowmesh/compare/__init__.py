"""Comparing what the shadow answered with what the primary answered.

The data plane hands `mirror.outcomes` to an `OutcomeQueue`; its thread packs them into
frames (wire.py) for a comparer process of its own (runtime.py, supervisor.py,
comparer_process.py). There the `CompareEngine` (engine.py) pairs outcomes by correlation id
(pairing.py), diffs each pair (diff.py: status, headers.py, bodies.py, jsondiff.py), learns
volatile fields (volatile.py), and accumulates aggregates (aggregate.py) that it flushes to
a store (store.py: SQLite or PostgreSQL). The report (report.py, verdict.py, stats.py) is
built from the store, so several processes writing one store build one report. Surfaces: the
`shadowmesh compare` command (commands.py), the admin API (admin/compare_api.py) and
Prometheus metrics (metrics.py).
"""
