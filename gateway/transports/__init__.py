"""The network: the ``Transport`` seam (``_base.py``), the transport over LiteLLM (``litellm.py``), the
direct HTTP transport and the router that picks one per call (``http.py``), and the provider's
Retry-After and rate-limit headers (``headers.py``).
"""

from gateway.transports._base import Transport

__all__ = ["Transport"]
