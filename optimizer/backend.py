"""Choosing the backend of a run: the embedded simulator, or real endpoints resolved from the environment."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway import config as gw_config
from gateway.errors import ConfigurationError
from gateway.types import Endpoint

# A real model's typical latency per call, for estimates only.
LIVE_CALL_LATENCY_S = 2.5


@dataclass(frozen=True)
class Backend:
    name: str  # "simulator", "local" (--local-model) or "live"
    task: Endpoint
    prompt: Endpoint
    judge: Endpoint
    mean_latency_s: float
    reflection: Endpoint | None = None  # GEPA's reflection model (--reflection-model); None: the prompt model's
    banner: str = ""  # what the run prints first about where its answers come from

    @property
    def reflector(self) -> Endpoint:
        """The endpoint GEPA's reflection calls go to."""
        return self.reflection or self.prompt

    @property
    def roles(self) -> tuple[Endpoint, ...]:
        """Every endpoint the run may call, a separate reflection model included."""
        return (self.task, self.prompt, self.judge) + ((self.reflection,) if self.reflection is not None else ())


@contextlib.contextmanager
def open_backend(
    model: str | None = None,
    *,
    prompt_model: str | None = None,
    judge_model: str | None = None,
    api_base: str | None = None,
    price_model: str | None = None,
    sim_latency_ms: float | None = None,
    reflection_model: str | None = None,
    local_model: Path | None = None,
    concurrency: int = 16,
    replay: bool = False,
) -> Iterator[Backend]:
    """Start the embedded simulator when no real model is configured; else resolve real endpoints.

    Credentials are checked here, before any call: a real model without them raises ConfigurationError.
    ``local_model``: serve that GGUF file with llama.cpp's server (``concurrency`` slots) for every role
    (``replay``: the run sends nothing, so no server is started).
    """
    if local_model is not None:
        from optimizer.local_model import banner, serve_local_model

        with serve_local_model(local_model, concurrency, replay=replay) as (endpoint, server, speed):
            # The estimate's minutes: calls arrive ``concurrency`` at a time, served at the measured rate.
            latency = concurrency / speed.calls_per_s if speed is not None else 0.0
            yield Backend("local", endpoint, endpoint, endpoint, latency, banner=banner(local_model, server, speed))
        return
    model = model or gw_config.default_model()
    if model == gw_config.SIMULATOR:
        if any(name and name != gw_config.SIMULATOR for name in (prompt_model, judge_model, reflection_model)):
            raise ConfigurationError("the simulator serves all three roles or none: name real models for all three")
        from simulator import SIM_VERSION, SimConfig, Simulator

        sim_config = SimConfig() if sim_latency_ms is None else SimConfig(latency_ms=sim_latency_ms)
        # A replay sends it nothing: its tokenizer is loaded by the first request, if one comes.
        with Simulator(sim_config, preload_tokenizer=False) as sim:
            endpoint = gw_config.simulator_endpoint(sim.openai_api_base, SIM_VERSION)
            yield Backend("simulator", endpoint, endpoint, endpoint, sim_config.latency_ms / 1000.0 * 1.2 + 0.004)
        return
    for name in (prompt_model, judge_model, reflection_model):
        if name == gw_config.SIMULATOR:
            raise ConfigurationError(
                "the simulator serves all three roles or none: drop --prompt-model/--judge-model simulator"
            )

    def live_endpoint(name: str | None) -> Endpoint:
        return gw_config.resolve_endpoint(name or model, api_base=api_base, price_model=price_model)

    yield Backend(
        "live",
        live_endpoint(model),
        live_endpoint(prompt_model),
        live_endpoint(judge_model),
        LIVE_CALL_LATENCY_S,
        live_endpoint(reflection_model) if reflection_model else None,
    )
