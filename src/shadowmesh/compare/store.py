"""Where the aggregates live: SQLite (default, a file) or PostgreSQL (shared by processes).

    store = open_store("sqlite:////var/lib/shadowmesh/compare.db" | "postgresql://...")
    store.apply(delta)          # add a Delta, in one transaction; raises StoreUnavailable
    store.comparisons()         # what has been compared (active or not)
    store.load(ns, name, since) # the sums a report is built from
    store.samples(ns, name, endpoint, field, limit)
    store.reset(ns, name)       # forget (None, None: everything)

Every write adds (`n = n + excluded.n`), so any number of processes (`--workers N`, or
several `shadowmesh run`s) writing one store build one report and their counts add up
exactly. Rows are written in key order so that concurrent PostgreSQL writers take row
locks in one order and cannot deadlock each other. The default store is a SQLite file under
the user's state directory ($XDG_STATE_HOME/shadowmesh/compare.db), so a report outlives a
restart; SQLite in WAL mode is safe for the processes of one machine.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from shadowmesh.compare.aggregate import Delta

SCHEMA_VERSION: Final = 1


class StoreUnavailable(Exception):
    """The store cannot be reached or refused the write; the caller keeps its data."""


@dataclass(frozen=True)
class StoredComparison:
    namespace: str
    name: str
    summary: dict[str, Any]
    active: bool


@dataclass
class StoredReport:
    comparison: StoredComparison
    counters: dict[str, dict[str, int]] = field(default_factory=dict)  # endpoint -> counter
    fields: list[tuple[str, str, str, int, int, int]] = field(default_factory=list)
    signatures: list[tuple[str, str, int]] = field(default_factory=list)
    latency: dict[tuple[str, str, str], dict[int, int]] = field(default_factory=dict)
    first_minute: int | None = None


class Store(Protocol):
    url: str

    def apply(self, delta: Delta) -> None: ...
    def comparisons(self) -> list[StoredComparison]: ...
    def load(self, namespace: str, name: str, since: float | None = None
             ) -> StoredReport | None: ...
    def samples(self, namespace: str, name: str, endpoint: str | None, field: str | None,
                limit: int) -> list[dict[str, Any]]: ...
    def reset(self, namespace: str | None = None, name: str | None = None) -> None: ...
    def close(self) -> None: ...


def default_url() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return f"sqlite:///{os.path.join(base, 'shadowmesh', 'compare.db')}"


_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS cmp_comparisons (ns TEXT NOT NULL, name TEXT NOT NULL, "
    "summary TEXT NOT NULL, active INTEGER NOT NULL, PRIMARY KEY (ns, name))",
    "CREATE TABLE IF NOT EXISTS cmp_counters (ns TEXT NOT NULL, name TEXT NOT NULL, "
    "minute BIGINT NOT NULL, endpoint TEXT NOT NULL, counter TEXT NOT NULL, n BIGINT NOT NULL, "
    "PRIMARY KEY (ns, name, minute, endpoint, counter))",
    "CREATE TABLE IF NOT EXISTS cmp_fields (ns TEXT NOT NULL, name TEXT NOT NULL, "
    "minute BIGINT NOT NULL, endpoint TEXT NOT NULL, field TEXT NOT NULL, kind TEXT NOT NULL, "
    "raw BIGINT NOT NULL, noise BIGINT NOT NULL, volatile BIGINT NOT NULL, "
    "PRIMARY KEY (ns, name, minute, endpoint, field, kind))",
    "CREATE TABLE IF NOT EXISTS cmp_signatures (ns TEXT NOT NULL, name TEXT NOT NULL, "
    "minute BIGINT NOT NULL, endpoint TEXT NOT NULL, signature TEXT NOT NULL, "
    "n BIGINT NOT NULL, PRIMARY KEY (ns, name, minute, endpoint, signature))",
    "CREATE TABLE IF NOT EXISTS cmp_latency (ns TEXT NOT NULL, name TEXT NOT NULL, "
    "minute BIGINT NOT NULL, endpoint TEXT NOT NULL, side TEXT NOT NULL, scale TEXT NOT NULL, "
    "bucket INTEGER NOT NULL, n BIGINT NOT NULL, "
    "PRIMARY KEY (ns, name, minute, endpoint, side, scale, bucket))",
)
_DATA_TABLES: Final = ("cmp_counters", "cmp_fields", "cmp_signatures", "cmp_latency",
                       "cmp_samples")


class SqlStore:
    """The SQL shared by both engines; subclasses connect and name the dialect."""

    url: str
    param = "?"
    serial = "INTEGER PRIMARY KEY"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    # -- connection (subclasses) ----------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    def _connection(self) -> Any:
        if self._conn is None:
            conn = self._connect()
            cur = conn.cursor()
            for statement in (*_TABLES, self._samples_table()):
                cur.execute(statement)
            cur.execute("CREATE INDEX IF NOT EXISTS cmp_samples_by_field "
                        "ON cmp_samples (ns, name, endpoint, field)")
            conn.commit()
            self._conn = conn
        return self._conn

    def _samples_table(self) -> str:
        return (f"CREATE TABLE IF NOT EXISTS cmp_samples (id {self.serial}, ns TEXT NOT NULL, "
                "name TEXT NOT NULL, endpoint TEXT NOT NULL, field TEXT NOT NULL, "
                "time DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)")

    def _sql(self, text: str) -> str:
        return text.replace("?", self.param) if self.param != "?" else text

    def _run(self, work: Any) -> Any:
        """Run `work(cursor)` in one transaction; connection problems -> StoreUnavailable."""
        with self._lock:
            try:
                conn = self._connection()
                cur = conn.cursor()
                try:
                    result = work(cur)
                    conn.commit()
                    return result
                except BaseException:
                    conn.rollback()
                    raise
            except self._errors() as exc:
                self._drop()
                raise StoreUnavailable(f"{self.url}: {exc}") from exc

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- writing --------------------------------------------------------------------------
    def _upsert(self, cur: Any, table: str, keys: Sequence[str], values: Sequence[str],
                rows: Iterable[tuple[Any, ...]]) -> None:
        columns = [*keys, *values]
        marks = ", ".join("?" for _ in columns)
        adds = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)
        sql = self._sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
                        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {adds}")
        batch = list(rows)
        if batch:
            cur.executemany(sql, batch)

    def apply(self, delta: Delta) -> None:
        def work(cur: Any) -> None:
            comparisons = sorted(delta.comparisons.items())
            sql = self._sql("INSERT INTO cmp_comparisons (ns, name, summary, active) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (ns, name) DO UPDATE SET "
                            "summary = excluded.summary, active = excluded.active")
            if comparisons:
                cur.executemany(sql, [(ns, name, summary.decode(), 1 if active else 0)
                                      for (ns, name), (summary, active, _) in comparisons])
            self._upsert(cur, "cmp_counters", ("ns", "name", "minute", "endpoint", "counter"),
                         ("n",), ((*k, n) for k, n in sorted(delta.counter_items().items())))
            self._upsert(cur, "cmp_fields",
                         ("ns", "name", "minute", "endpoint", "field", "kind"),
                         ("raw", "noise", "volatile"),
                         (k + tuple(v) for k, v in sorted(delta.fields.items())))
            self._upsert(cur, "cmp_signatures",
                         ("ns", "name", "minute", "endpoint", "signature"), ("n",),
                         ((*k, n) for k, n in sorted(delta.signatures.items())))
            self._upsert(cur, "cmp_latency",
                         ("ns", "name", "minute", "endpoint", "side", "scale", "bucket"),
                         ("n",), ((*k, n) for k, n in delta.latency_items()))
            if delta.samples:
                # the cap is per endpoint and field, whoever writes: checked in the insert
                insert = self._sql(
                    "INSERT INTO cmp_samples (ns, name, endpoint, field, time, doc) "
                    "SELECT ?, ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM cmp_samples "
                    "WHERE ns = ? AND name = ? AND endpoint = ? AND field = ?) < ?")
                for ns, name, endpoint, fld, when, doc, cap in delta.samples:
                    cur.execute(insert, (ns, name, endpoint, fld, when, doc.decode(),
                                         ns, name, endpoint, fld, cap))

        self._run(work)

    # -- reading --------------------------------------------------------------------------
    def comparisons(self) -> list[StoredComparison]:
        def work(cur: Any) -> list[StoredComparison]:
            cur.execute("SELECT ns, name, summary, active FROM cmp_comparisons "
                        "ORDER BY ns, name")
            return [StoredComparison(ns, name, orjson.loads(summary), bool(active))
                    for ns, name, summary, active in cur.fetchall()]

        result: list[StoredComparison] = self._run(work)
        return result

    def load(self, namespace: str, name: str, since: float | None = None
             ) -> StoredReport | None:
        minute = int(since) // 60 * 60 if since else 0

        def work(cur: Any) -> StoredReport | None:
            cur.execute(self._sql("SELECT summary, active FROM cmp_comparisons "
                                  "WHERE ns = ? AND name = ?"), (namespace, name))
            row = cur.fetchone()
            if row is None:
                return None
            report = StoredReport(StoredComparison(namespace, name, orjson.loads(row[0]),
                                                   bool(row[1])))
            args = (namespace, name, minute)
            where = "WHERE ns = ? AND name = ? AND minute >= ?"
            cur.execute(self._sql(f"SELECT endpoint, counter, SUM(n) FROM cmp_counters "
                                  f"{where} GROUP BY endpoint, counter"), args)
            for endpoint, counter, n in cur.fetchall():
                report.counters.setdefault(endpoint, {})[counter] = int(n)
            cur.execute(self._sql(f"SELECT endpoint, field, kind, SUM(raw), SUM(noise), "
                                  f"SUM(volatile) FROM cmp_fields {where} "
                                  f"GROUP BY endpoint, field, kind"), args)
            report.fields = [(e, f, k, int(r), int(n), int(v))
                             for e, f, k, r, n, v in cur.fetchall()]
            cur.execute(self._sql(f"SELECT endpoint, signature, SUM(n) FROM cmp_signatures "
                                  f"{where} GROUP BY endpoint, signature"), args)
            report.signatures = [(e, s, int(n)) for e, s, n in cur.fetchall()]
            cur.execute(self._sql(f"SELECT endpoint, side, scale, bucket, SUM(n) FROM "
                                  f"cmp_latency {where} GROUP BY endpoint, side, scale, "
                                  f"bucket"), args)
            for endpoint, side, scale, bucket, n in cur.fetchall():
                hist = report.latency.setdefault((endpoint, side, scale), {})
                hist[int(bucket)] = int(n)
            cur.execute(self._sql(f"SELECT MIN(minute) FROM cmp_counters {where} "
                                  f"AND counter = 'pairs'"), args)
            first = cur.fetchone()
            report.first_minute = int(first[0]) if first and first[0] is not None else None
            return report

        result: StoredReport | None = self._run(work)
        return result

    def samples(self, namespace: str, name: str, endpoint: str | None, field: str | None,
                limit: int) -> list[dict[str, Any]]:
        def work(cur: Any) -> list[dict[str, Any]]:
            sql = "SELECT doc FROM cmp_samples WHERE ns = ? AND name = ?"
            args: list[Any] = [namespace, name]
            if endpoint:
                sql += " AND endpoint = ?"
                args.append(endpoint)
            if field:
                sql += " AND field = ?"
                args.append(field)
            sql += " ORDER BY time DESC, id DESC LIMIT ?"
            args.append(limit)
            cur.execute(self._sql(sql), args)
            seen: set[str] = set()
            out = []
            for (doc,) in cur.fetchall():
                # one document may be filed under several fields: once when not by field
                if field or doc not in seen:
                    seen.add(doc)
                    out.append(orjson.loads(doc))
            return out

        result: list[dict[str, Any]] = self._run(work)
        return result

    def reset(self, namespace: str | None = None, name: str | None = None) -> None:
        def work(cur: Any) -> None:
            for table in (*_DATA_TABLES, "cmp_comparisons"):
                if namespace is None:
                    cur.execute(f"DELETE FROM {table}")
                else:
                    cur.execute(self._sql(f"DELETE FROM {table} WHERE ns = ? AND name = ?"),
                                (namespace, name))

        self._run(work)


class SqliteStore(SqlStore):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.url = f"sqlite:///{path}" if path != ":memory:" else "sqlite://"

    def _connect(self) -> Any:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.OperationalError, sqlite3.DatabaseError)


class PostgresStore(SqlStore):
    param = "%s"
    serial = "BIGSERIAL PRIMARY KEY"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(self.url, connect_timeout=3)
        # CREATE TABLE IF NOT EXISTS races between processes starting together: serialise
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(7415013)")
        return conn

    def _errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.OperationalError, psycopg.errors.DeadlockDetected,
                psycopg.errors.SerializationFailure, psycopg.InterfaceError)


def open_store(url: str | None) -> Store:
    """`sqlite:////abs/path`, `sqlite://` (in memory), `postgresql://...`; None: default."""
    url = url or default_url()
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url in ("sqlite://", "sqlite:///:memory:"):
        return SqliteStore(":memory:")
    if url.startswith("sqlite:///"):
        # as SQLAlchemy reads it: sqlite:///relative/path, sqlite:////absolute/path
        return SqliteStore(url[len("sqlite:///"):])
    raise ValueError(f"unknown comparison store {url!r}: use sqlite:////ABSOLUTE/PATH, "
                     "sqlite:///RELATIVE/PATH or postgresql://USER@HOST:PORT/DB")
