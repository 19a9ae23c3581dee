"""State shared between processes on Redis (``--redis-url``): the target and its flag, URL parsing and
redaction (``target.py``, standard library only), the connection and its errors (``conn.py``), the token
bucket in Lua that the shared limiter and the shared quota readings both keep (``bucket.py``), the
assembly of a run's shared cache, limiter, budget and leases (``state.py``) and a Redis server for tests
(``testing.py``). The Redis implementations of each seam live beside its other ones
(``gateway/limits/redis.py``, ``gateway/budget/redis.py``, ``gateway/leases/redis.py``, ``cache/redis.py``).
"""
