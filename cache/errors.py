"""Errors of the response cache.

CacheError
└── CorruptEntry      a stored entry failed its integrity check
"""


class CacheError(Exception):
    """Base of the cache's errors."""


class CorruptEntry(CacheError):
    """A stored entry failed its integrity check; it is never returned as a response."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"corrupted cache entry {key.split(':', 1)[-1][:12]}: {reason}")
