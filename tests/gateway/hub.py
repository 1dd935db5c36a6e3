"""Run ``onematter serve`` as a real process on a loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

READY = "Application startup complete."
INDEX_BUILT = "matter index built"  # schema.matter_index.INDEX_BUILT: what /readyz waits for
ONEMATTER = Path(sys.executable).with_name("onematter")
STARTUP_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token(role: str) -> str:
    """A bearer token the hub accepts (the demo secret unless ONEMATTER_AUTH_SECRET is set)."""
    from domain.principal import Role
    from gateway.auth import authenticator_for
    from gateway.config import Settings

    return authenticator_for(Settings()).mint(subject=f"test-{role.lower()}", role=Role(role))


@dataclass
class RunningHub:
    url: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    # The process's output lines not read yet (None: it exited); startup reads up to the last ready line.
    output: queue.Queue[str | None] = field(default_factory=queue.Queue)

    @property
    def banner(self) -> str:
        return "\n".join(self.lines)

    def post(self, payload: dict[str, Any], *, role: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token(role)}"} if role else {}
        return httpx.post(f"{self.url}/graphql", json=payload, headers=headers, timeout=30)

    def query(
        self, query: str, variables: dict[str, Any] | None = None, *, role: str = "WINDOW_STAFF"
    ) -> dict[str, Any]:
        response = self.post({"query": query, "variables": variables or {}}, role=role)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    @classmethod
    @contextmanager
    def start(
        cls,
        tmp_path: Path,
        *,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
        config: Path | None = None,
    ) -> Iterator[RunningHub]:
        port = free_port()
        # Configuration overrides are the test's to set; secrets (ONEMATTER_AUTH_SECRET)
        # are shared, so tokens minted here are the hub's.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMATTER__")}
        env.update(
            {
                "ONEMATTER__REGISTRY__DATABASE_URL": f"sqlite:///{tmp_path / 'registry.db'}",
                "PYTHONUNBUFFERED": "1",
                **(extra_env or {}),
            }
        )
        # The installed console script, as `make run` uses it.
        command = [str(ONEMATTER), "serve", "--port", str(port), "--workers", str(workers)]
        if config is not None:
            command += ["--config", str(config)]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path
        )
        hub = cls(url=f"http://127.0.0.1:{port}", process=process)
        lines = hub.output

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            # Each worker says it started and, once its matter index is built, that it is ready.
            ready = built = 0
            while ready < workers or built < workers:
                try:
                    line = lines.get(timeout=STARTUP_TIMEOUT_S)
                except queue.Empty:
                    raise RuntimeError("the hub did not start in time:\n" + hub.banner) from None
                if line is None:
                    raise RuntimeError("the hub exited during startup:\n" + hub.banner)
                hub.lines.append(line)
                ready += READY in line
                built += INDEX_BUILT in line
            yield hub
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            reader.join(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
