"""The structured-outputs probe against the simulator in each of its schema modes: one request, a
verdict a free-text answer cannot fake, and a note that makes a second probe send nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cache import CachePolicy
from gateway.runtime import GatewaySettings, Runtime
from gateway.structured_probe import ENFORCED, IGNORED, PROBE_CODE, REJECTED, probe_endpoint, verdict_of
from gateway.types import Endpoint
from simulator import SimConfig, Simulator


def test_only_the_single_allowed_object_counts_as_enforced() -> None:
    assert verdict_of(f'{{"code": "{PROBE_CODE}"}}') == ENFORCED
    assert verdict_of('{"code": "blue"}') == IGNORED
    assert verdict_of("Blue.") == IGNORED
    assert verdict_of(None) == IGNORED


@pytest.mark.parametrize(("schemas", "verdict"), [("enforce", ENFORCED), ("ignore", IGNORED), ("reject", REJECTED)])
def test_probe_verdict_and_its_note(tmp_path: Path, schemas: str, verdict: str) -> None:
    with Simulator(SimConfig(latency_ms=0.0, schemas=schemas)) as sim:  # type: ignore[arg-type]  # the mode under test
        endpoint = Endpoint(
            model="openai/local", identity=f"openai|{sim.port}||openai/local", api_base=sim.openai_api_base, api_key="k"
        )
        with Runtime(GatewaySettings(cache_dir=tmp_path / "cache")) as rt:
            first = rt.loop.run(probe_endpoint(rt.gateway, endpoint))
            sent = sim.stats()["requests"]
            again = rt.loop.run(probe_endpoint(rt.gateway, endpoint))
            assert sim.stats()["requests"] == sent == 1  # the second verdict comes from the note
        with Runtime(GatewaySettings(cache_dir=tmp_path / "cache", policy=CachePolicy.REPLAY)) as rt:
            replayed = rt.loop.run(probe_endpoint(rt.gateway, endpoint))
            assert sim.stats()["requests"] == 1
    assert (first.verdict, first.source) == (verdict, "probe")
    assert (again.verdict, again.source) == (replayed.verdict, replayed.source) == (verdict, "cache note")
