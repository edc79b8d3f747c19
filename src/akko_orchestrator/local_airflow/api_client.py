"""A minimal client for Airflow's REST API (JWT from the simple auth manager; stdlib only), and a free port."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApiClient:
    """Minimal client for Airflow's REST API with a JWT from the simple auth manager (stdlib only)."""

    base_url: str
    username: str
    password: str
    # Above the 30 s an api-server on SQLite may wait for the DB's lock (environment.py): a busy local Airflow
    # answers late, it has not failed.
    timeout: float = 45.0
    token: str | None = field(default=None, repr=False)

    def login(self) -> str:
        body = {"username": self.username, "password": self.password}
        self.token = self._send("POST", "/auth/token", body, auth=False)["access_token"]
        return self.token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """JSON in, JSON out; logs in on first use and again when the token expired."""
        if self.token is None and path.startswith("/api/v2/") and not path.startswith("/api/v2/monitor/"):
            self.login()
        try:
            return self._send(method, path, body)
        except urllib.error.HTTPError as exc:
            if exc.code != 401 or path.startswith("/auth/"):
                raise
            self.login()
            return self._send(method, path, body)

    def _send(self, method: str, path: str, body: Any, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
