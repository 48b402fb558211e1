"""A small HTTP client for the admin API, used by the kubectl-style commands.

Transport errors are mapped once, here, to `AdminError`s that say what to do; the commands
only print them.
"""

from __future__ import annotations

from typing import Any

import httpx

DEFAULT_ADMIN = "http://127.0.0.1:15000"
ADMIN_ENV = "SHADOWMESH_ADMIN"


class AdminError(Exception):
    """The admin API could not be reached, or answered with an error."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class AdminClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        content: str | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        """(status, JSON body); raises AdminError unless the status is in `ok`."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=clean, content=content,
                                          headers=headers)
        except httpx.TransportError as exc:
            raise AdminError(
                f"cannot reach the admin API at {self.base_url}: {exc}; is `shadowmesh run` "
                f"running? Point --admin (or ${ADMIN_ENV}) at its admin address."
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code not in ok:
            message = body.get("message") if isinstance(body, dict) else None
            raise AdminError(
                message or f"HTTP {response.status_code}: {str(body)[:200]}",
                response.status_code,
                body,
            )
        return response.status_code, body

    def apply(self, text: str, source: str) -> tuple[int, dict[str, Any]]:
        return self.request(
            "POST", "/api/v1/resources", params={"source": source}, content=text, ok=(200, 422),
            headers={"Content-Type": "application/yaml"},
        )

    def list(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        _, body = self.request(
            "GET", "/api/v1/resources", params={"kind": kind, "namespace": namespace}
        )
        items: list[dict[str, Any]] = body["items"]
        return items

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        _, body = self.request("GET", f"/api/v1/resources/{kind}/{namespace}/{name}")
        result: dict[str, Any] = body
        return result

    def delete(self, kind: str, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        return self.request("DELETE", f"/api/v1/resources/{kind}/{namespace}/{name}", ok=(200, 422))

    def logs(
        self,
        workload: str,
        since: str | None = None,
        tail: int | None = None,
        after: float | None = None,
    ) -> dict[str, Any]:
        params = {"workload": workload, "since": since, "tail": tail, "after": after}
        _, body = self.request("GET", "/api/v1/logs", params=params)
        result: dict[str, Any] = body
        return result
