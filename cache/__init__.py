"""Content-hash response cache for LLM answers: the key contract, the stores and their policy."""

from cache.errors import CacheError, CorruptEntry
from cache.key import KEY_VERSION, canonical_json, content_hash, request_key, short_digest
from cache.store import (
    CACHE_DIR_ENV,
    CachePolicy,
    CacheStore,
    ResponseCache,
    default_cache_dir,
    entry_text,
    verify_entry,
)

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
