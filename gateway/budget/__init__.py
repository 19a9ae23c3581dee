"""The spending cap (``--max-cost``): the ``Budget`` seam (``_base.py``), one process's cap (``local.py``)
and the cap every worker naming it shares on Redis (``redis.py``, imported only when a run asks for it).
"""

from gateway.budget._base import NO_HOLD, Budget, Hold, charged_usd, unpriced_under_cap
from gateway.budget.local import LocalBudget

__all__ = ["NO_HOLD", "Budget", "Hold", "LocalBudget", "charged_usd", "unpriced_under_cap"]
