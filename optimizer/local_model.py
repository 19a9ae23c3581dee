"""``--local-model PATH.gguf``: llama.cpp's own OpenAI-compatible server, started for the run on 127.0.0.1.

Why llama.cpp's server, through ``xllamacpp``: it is the server most local setups run (Ollama and LM
Studio embed llama.cpp), it enforces JSON schemas by grammar in the nested ``json_schema`` form, it
serves parallel slots with continuous batching, and ``xllamacpp`` ships it as prebuilt CPU wheels on
PyPI (no compiler, no CUDA; ``pip install -e '.[local]'``). ``llama-cpp-python``'s server compiles
llama.cpp at install time and runs its own Python server in front of it.

The server runs in a child process (``optimizer/llama_server.py``) with one slot per ``--concurrency``,
``CTX_PER_SLOT`` tokens of context each and all cores but one (``default_threads``); it is stopped when
the run ends, however it ends (an error, Ctrl-C), and it stops by itself if the run's process dies. The
endpoint is an OpenAI-compatible one (``openai/<file stem>``) whose identity in cache keys holds the
SHA-256 of the model file: two files never share answers, and the same file at another path or port
does. Its calls cost $0 (``FREE_PRICE``).

Before the run, a measured probe (``measure_speed``: a warm-up call, then one short call per slot, all
at once) gives the calls per second the estimate turns into minutes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigurationError
from gateway.pricing import FREE_PRICE
from gateway.types import Endpoint

CTX_PER_SLOT = 4096  # tokens of context per slot: the longest request of a run (a proposal) fits
READY_TIMEOUT_S = 180.0
LOCAL_KEY = "local-no-key"  # llama.cpp's server checks no key; LiteLLM and the direct transport want one
SPEED_PROMPT = "In two sentences, why is the sky blue?"
SPEED_MAX_TOKENS = 64  # about a judge answer's length: five of a run's six calls are the judge's


def gguf_problem(path: Path) -> str | None:
    """Why ``path`` cannot be served (missing, unreadable, not a GGUF file), or None."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        return "no such file"
    except IsADirectoryError:
        return "is a directory, not a GGUF file"
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if magic != b"GGUF":
        return "not a GGUF model file (it does not start with the GGUF magic)"
    return None


def file_digest(path: Path) -> str:
    """SHA-256 of the file's content (about a second per GB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def local_endpoint(path: Path, api_base: str, digest: str) -> Endpoint:
    """The endpoint of a served model file: named by its stem, identified by its content."""
    stem = path.stem.replace(" ", "-") or "model"
    return Endpoint(
        model=f"openai/{stem}",
        identity=f"llama.cpp|sha256:{digest}",
        api_base=api_base,
        api_key=LOCAL_KEY,
        price_model=FREE_PRICE,
        timeout_s=600.0,  # a CPU serving many slots can take minutes over one long answer
    )


@dataclass(frozen=True)
class ServerSpeed:
    """What the probe measured: ``calls`` short calls, all at once, in ``seconds``."""

    calls: int
    seconds: float
    completion_tokens: int

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else float("inf")


def default_threads() -> int:
    """All cores but one: the run's own process (its event loop, DSPy's parsing) needs one, and llama.cpp's
    threads wait for each other at every step, so one of them preempted stalls all (on two cores shared
    with other work, 1 thread served a few times more calls per second than 2)."""
    return max(1, (os.cpu_count() or 1) - 1)


class LocalServer:
    """llama.cpp's server in a child process; ``start`` waits until it answers, ``stop`` ends it."""

    def __init__(self, model: Path, *, parallel: int, threads: int | None = None) -> None:
        self.model = model
        self.parallel = parallel
        self.threads = threads or default_threads()
        self.base_url = ""
        self.log_path = Path(tempfile.gettempdir()) / f"hsopt-llama-server-{os.getpid()}.log"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> LocalServer:
        command = [
            sys.executable,
            "-m",
            "optimizer.llama_server",
            str(self.model),
            str(self.parallel),
            str(CTX_PER_SLOT),
            str(self.threads),
        ]
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        with self.log_path.open("w") as log:
            # A session of its own: Ctrl-C reaches the run, which stops the server in order.
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                start_new_session=True,
            )  # fmt: skip
        try:
            line = self._ready_line()
        except BaseException:  # Ctrl-C while the model loads: no server is left behind
            self.stop()
            raise
        if not line.startswith("ready "):
            self.stop()
            raise ConfigurationError(
                f"llama.cpp's server did not start for {self.model}: {self._log_tail()} (log: {self.log_path})"
            )
        self.base_url = line.split(" ", 1)[1].strip()
        return self

    def _ready_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self._process.stdout.readline()), daemon=True)  # type: ignore[union-attr]  # checked above
        reader.start()
        reader.join(READY_TIMEOUT_S)
        return found[0] if found else ""

    def _log_tail(self) -> str:
        try:
            lines = [line.strip() for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        errors = [line for line in lines if "error" in line.lower()]
        return (errors or lines or ["no output"])[-1][:300]

    def stop(self) -> None:
        """Close the server's stdin (it stops and frees the model), then make sure it is gone."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def measure_speed(base_url: str, parallel: int) -> ServerSpeed:
    """A warm-up call, then ``parallel`` short calls at once (greedy, ``SPEED_MAX_TOKENS`` tokens)."""

    def one(index: int) -> int:
        body = {
            "model": "speed-probe",
            "messages": [{"role": "user", "content": f"{SPEED_PROMPT} ({index})"}],
            "max_tokens": SPEED_MAX_TOKENS,
            "temperature": 0.0,
        }
        request = urllib.request.Request(
            f"{base_url}/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {LOCAL_KEY}"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.loads(response.read())
        return int((answer.get("usage") or {}).get("completion_tokens") or 0)

    one(0)
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        tokens = sum(pool.map(one, range(1, parallel + 1)))
    return ServerSpeed(parallel, time.perf_counter() - started, tokens)


def banner(path: Path, server: LocalServer | None, speed: ServerSpeed | None) -> str:
    """The loud line a run prints when it serves a local model."""
    if server is None or speed is None:
        return f"*** LOCAL MODEL: {path.name}, replayed from the cache: no server started. Cost: $0. ***"
    threads = "1 thread" if server.threads == 1 else f"{server.threads} threads"
    return (
        f"*** LOCAL MODEL: {path.name} served by llama.cpp's server at {server.base_url} "
        f"({server.parallel} parallel slots, {threads}, {CTX_PER_SLOT} tokens of context each; "
        f"log {server.log_path}). Cost: $0 (your machine's time). Measured {speed.calls_per_s:.2f} calls/s "
        f"({speed.calls} calls of up to {SPEED_MAX_TOKENS} tokens at once in {speed.seconds:.1f} s). ***"
    )


REPLAY_BASE = "http://127.0.0.1:9/v1"  # a replay sends nothing: no server is started, and this is never dialled


@contextlib.contextmanager
def serve_local_model(
    path: Path, parallel: int, *, replay: bool = False
) -> Iterator[tuple[Endpoint, LocalServer | None, ServerSpeed | None]]:
    """Start the server for ``path`` (stopped on leaving, an exception or Ctrl-C included).

    ``replay``: answers come from the cache only, so no server is started and no speed is measured;
    the endpoint's identity (the file's digest) is the same, so are the cache keys.
    """
    problem = gguf_problem(path)
    if problem is not None:
        raise ConfigurationError(f"--local-model {path}: {problem}")
    if replay:
        yield local_endpoint(path, REPLAY_BASE, file_digest(path)), None, None
        return
    if importlib.util.find_spec("xllamacpp") is None:
        raise ConfigurationError(
            "--local-model needs llama.cpp's server from the xllamacpp package: pip install -e '.[local]'"
        )
    digest = file_digest(path)
    with LocalServer(path, parallel=parallel) as server:
        try:
            speed = measure_speed(server.base_url, parallel)
        except (OSError, ValueError) as exc:  # urllib's HTTP and connection errors are OSErrors
            raise ConfigurationError(
                f"llama.cpp's server for {path.name} failed its first calls: {exc} (log: {server.log_path})"
            ) from None
        yield local_endpoint(path, f"{server.base_url}/v1", digest), server, speed
