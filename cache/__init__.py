"""Content-hash disk cache for LLM responses."""

from cache.errors import CacheError, CorruptEntry
from cache.key import KEY_VERSION, canonical_json, content_hash, request_key, short_digest
from cache.store import CACHE_DIR_ENV, CachePolicy, ResponseCache, default_cache_dir

__all__ = [
    "CACHE_DIR_ENV",
    "KEY_VERSION",
    "CacheError",
    "CachePolicy",
    "CorruptEntry",
    "ResponseCache",
    "canonical_json",
    "content_hash",
    "default_cache_dir",
    "request_key",
    "short_digest",
]
