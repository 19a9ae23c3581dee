"""What a provider says in its response headers about waiting and about its quota. Pure parsing, no I/O.

OpenAI and Azure OpenAI answer every request (429s included) with rate-limit headers::

    x-ratelimit-limit-requests: 500        x-ratelimit-limit-tokens: 30000      (per minute)
    x-ratelimit-remaining-requests: 499    x-ratelimit-remaining-tokens: 28900
    x-ratelimit-reset-requests: 120ms      x-ratelimit-reset-tokens: 2.2s        (until full again)

and a throttled or unavailable answer may ask for a wait with ``Retry-After`` (seconds, or an HTTP
date) and ``retry-after-ms``. The reset times are Go-style durations (``1s``, ``6m0s``, ``20ms``) or
plain seconds. Header names are matched without regard to case.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}

# The headers the gateway keeps from an error answer (for its retry wait and for pacing).
_KEPT_PREFIXES = ("x-ratelimit-", "retry-after")


def kept_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The rate-limit and Retry-After headers of an answer, with lower-case names (nothing secret)."""
    if not headers:
        return {}
    return {str(k).lower(): str(v) for k, v in headers.items() if str(k).lower().startswith(_KEPT_PREFIXES)}


def parse_duration(text: str | None) -> float | None:
    """Seconds in ``"6m0s"``, ``"1.5s"``, ``"20ms"``, ``"1h2m"`` or a plain number of seconds; None if neither."""
    if text is None:
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def retry_after_from_headers(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The wait an answer asked for, from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            value = float(lowered["retry-after-ms"]) / 1000.0
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return max(0.0, value)
    value_text = lowered.get("retry-after")
    if value_text is None:
        return None
    try:
        seconds = float(value_text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value_text)
        except (TypeError, ValueError):  # neither seconds nor a date: no usable hint
            return None
        return max(0.0, parsed.timestamp() - (time.time() if now is None else now))
    return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass(frozen=True)
class QuotaReading:
    """One answer's view of the provider's quota; a field is None when its header was missing."""

    limit_requests: float | None = None
    limit_tokens: float | None = None
    remaining_requests: float | None = None
    remaining_tokens: float | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None

    def reset_wait_s(self) -> float | None:
        """How long until the exhausted dimension refills (both, if both are): a 429's wait when it gave none.

        When neither reads 0 (the request was bigger than what remained) the shorter reset is the
        first moment the answer could change.
        """
        exhausted = [
            reset
            for remaining, reset in (
                (self.remaining_requests, self.reset_requests_s),
                (self.remaining_tokens, self.reset_tokens_s),
            )
            if remaining is not None and remaining <= 0 and reset is not None
        ]
        if exhausted:
            return max(exhausted)
        resets = [r for r in (self.reset_requests_s, self.reset_tokens_s) if r is not None]
        return min(resets) if resets else None


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def quota_reading(headers: Mapping[str, str] | None) -> QuotaReading | None:
    """The quota an answer reports, or None when it reports none (no ``x-ratelimit-remaining-*``).

    ``headers`` must look names up without regard to case (aiohttp's headers do) or hold them in
    lower case (``kept_headers``).
    """
    if not headers:
        return None
    remaining_requests = _number(headers, "x-ratelimit-remaining-requests")
    remaining_tokens = _number(headers, "x-ratelimit-remaining-tokens")
    if remaining_requests is None and remaining_tokens is None:
        return None
    return QuotaReading(
        limit_requests=_number(headers, "x-ratelimit-limit-requests"),
        limit_tokens=_number(headers, "x-ratelimit-limit-tokens"),
        remaining_requests=remaining_requests,
        remaining_tokens=remaining_tokens,
        reset_requests_s=parse_duration(headers.get("x-ratelimit-reset-requests")),
        reset_tokens_s=parse_duration(headers.get("x-ratelimit-reset-tokens")),
    )


def throttle_wait(headers: Mapping[str, str]) -> float | None:
    """The wait a 429 asked for: its Retry-After, else the time its rate-limit headers say the quota refills."""
    asked = retry_after_from_headers(headers)
    if asked is not None:
        return asked
    reading = quota_reading(kept_headers(headers))
    return reading.reset_wait_s() if reading is not None else None
