"""Who sends an uncached request several processes ask for: the ``CallLeases`` seam (``_base.py``), the
single process's ``NoLeases`` (``local.py``) and leases on Redis (``redis.py``, loaded only with a Redis URL).
"""

from gateway.leases._base import CallLeases, Claim
from gateway.leases.local import NoLeases

__all__ = ["CallLeases", "Claim", "NoLeases"]
