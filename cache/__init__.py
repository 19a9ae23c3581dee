"""Content-hash response cache for LLM answers: the key contract, the stores and their policy.

The ``CacheStore`` seam and ``CachePolicy`` (``_base.py``), the key contract (``key.py``), the store on
this machine (``disk.py``) and the one a team shares on Redis (``redis.py``, loaded only with a Redis URL).
"""

from cache._base import CachePolicy, CacheStore
from cache.disk import (
    CACHE_DIR_ENV,
    ResponseCache,
    default_cache_dir,
    entry_text,
    verify_entry,
)
from cache.errors import CacheError, CorruptEntry
from cache.key import KEY_VERSION, canonical_json, content_hash, request_key, short_digest

__all__ = [
    "CACHE_DIR_ENV",
    "KEY_VERSION",
    "CacheError",
    "CachePolicy",
    "CacheStore",
    "CorruptEntry",
    "ResponseCache",
    "canonical_json",
    "content_hash",
    "default_cache_dir",
    "entry_text",
    "request_key",
    "short_digest",
    "verify_entry",
]
