"""Client-side rate limits: the ``Limiter`` seam (``_base.py``), one process's buckets (``local.py``) and
the limiter every worker shares on Redis (``redis.py``, imported only by a run given a Redis URL).
"""

from gateway.limits._base import Limiter, RateLimits
from gateway.limits.local import RateLimiter, TokenBucket

__all__ = ["Limiter", "RateLimiter", "RateLimits", "TokenBucket"]
