"""An embedded, deterministic LLM simulator served over OpenAI- and Azure-compatible HTTP on 127.0.0.1.

It stands in for a real endpoint in tests, benchmarks and offline runs: it answers DSPy-formatted
generator, judge and MIPROv2-proposer requests with a landscape in which instructions really differ,
and it can inject faults and rate limits on demand. Every answer is a pure function of the request body.
"""

from simulator.config import CONTENT_FILTER_MARKER, FaultConfig, SimConfig
from simulator.responder import SIM_VERSION
from simulator.server import Simulator

__all__ = ["CONTENT_FILTER_MARKER", "SIM_VERSION", "FaultConfig", "SimConfig", "Simulator"]
