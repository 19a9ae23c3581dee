"""The network seam: the ``Transport`` protocol, the only network I/O of a call.

``gateway/transports/litellm.py`` sends through LiteLLM; ``gateway/transports/http.py`` sends plain
OpenAI-compatible and Azure calls directly and routes each call to one of the two.
"""

from __future__ import annotations

from typing import Any, Protocol

from gateway.types import ChatCall


class Transport(Protocol):
    async def send(self, call: ChatCall) -> dict[str, Any]:
        """Send one request, once; return the response JSON or raise a ``GatewayError``.

        A transport that can read the answer's headers returns a ``ProviderReply`` (the JSON with
        them), so that the gateway can pace to the quota the provider reports.
        """
        ...
