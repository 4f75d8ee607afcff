"""``modelsync serve`` as a real process, for the end-to-end tests and the server benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


class Server:
    """``modelsync serve`` running as a real process on a free loopback port."""

    def __init__(self, repo_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.repo_path = repo_path
        command = [sys.executable, "-m", "modelsync", "serve", "-C", str(repo_path)]
        command += ["--port", str(self.port), "--log-level", "warning", *args]
        base = {k: v for k, v in os.environ.items() if not k.startswith("MODELSYNC_")}
        self.process = subprocess.Popen(
            command,
            env={**base, "MODELSYNC_NO_PROGRESS": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._wait_until_ready()

    def _wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"modelsync serve exited: {self.stop()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"modelsync serve did not start: {self.stop()}")

    def banner(self, lines: int = 3) -> list[str]:
        """The first lines the server printed (they come before it listens)."""
        assert self.process.stdout is not None
        read = [self.process.stdout.readline() for _ in range(lines)]
        self.output.extend(read)
        return read

    def raw(self, request: bytes) -> bytes:
        """Send bytes as they are (no client normalises the path) and read the whole reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            conn.sendall(request)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def stop(self) -> str:
        """Stop the server; returns everything it printed."""
        if self.process.poll() is None:
            self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        self.output.append(out or "")
        return "".join(self.output)
