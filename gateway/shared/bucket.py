"""The token bucket that the shared rate limiter and the shared quota readings keep on Redis, in Lua.

A deployment's bucket is one hash: ``at`` (the time its levels are as of, which may be in the future:
the turn of the last request queued) and ``req`` and ``tok`` (the levels of the request and the token
bucket then). Each script that admits a request starts with ``BUCKET_LUA``, whose functions read the
hash on the server's clock (``TIME``), refill each limited dimension to the request's turn, say how
long the request waits to fit in every one, and write the levels back after it; the script itself
only adds what it does beside (``gateway/limits/redis.py``: nothing; ``gateway/shared/readings.py``:
a provider's reading). ``bucket_args`` is their ARGV[1..6] for one request.
"""

from __future__ import annotations

from gateway.limits import RateLimits

# ARGV[1..6]: request rate /s, request capacity, token rate /s, token capacity, this request's tokens,
# expiry ms (a rate of 0 leaves that dimension unlimited); KEYS[1]: the bucket's hash.
BUCKET_LUA = """
-- now, the hash's fields (at, req, tok, then `...`), at, and the request's turn: now or the last queued
local function bucket_open(...)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local s = redis.call('HMGET', KEYS[1], 'at', 'req', 'tok', ...)
  local at = tonumber(s[1])
  local start = now
  if at ~= nil and at > now then start = at end
  return now, s, at, start
end

-- the request and the token dimension, each limited one refilled to `start` (a new bucket is full)
local function bucket_levels(s, at, start)
  local dims = {
    {rate = tonumber(ARGV[1]), cap = tonumber(ARGV[2]), cost = 1, level = tonumber(s[2])},
    {rate = tonumber(ARGV[3]), cap = tonumber(ARGV[4]), cost = tonumber(ARGV[5]), level = tonumber(s[3])},
  }
  for _, d in ipairs(dims) do
    if d.rate > 0 then
      if d.level == nil or at == nil then
        d.level = d.cap
      else
        d.level = math.min(d.cap, d.level + (start - at) * d.rate)
      end
    end
  end
  return dims
end

-- how long after `start` the request fits in every limited dimension
local function bucket_wait(dims)
  local wait = 0
  for _, d in ipairs(dims) do
    if d.rate > 0 then
      local need = math.min(d.cost, d.cap)
      if d.level < need then
        wait = math.max(wait, (need - d.level) / d.rate)
      end
    end
  end
  return wait
end

-- write the levels after the request, admitted `wait` after its turn, and `fields` beside them
local function bucket_store(now, admitted, wait, dims, fields)
  table.insert(fields, 'at')
  table.insert(fields, string.format('%.6f', admitted))
  for i, d in ipairs(dims) do
    if d.rate > 0 then
      local level = math.min(d.cap, d.level + wait * d.rate) - d.cost
      table.insert(fields, i == 1 and 'req' or 'tok')
      table.insert(fields, string.format('%.6f', level))
    end
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('PEXPIRE', KEYS[1], math.ceil((admitted - now) * 1000) + tonumber(ARGV[6]))
end
"""


def bucket_args(limits: RateLimits, tokens: int) -> list[float | int]:
    """The scripts' ARGV[1..6] for one request of ``tokens`` under ``limits`` (capacities as ``RateLimiter``'s)."""

    def dim(per_minute: float | None) -> tuple[float, float]:
        if per_minute is None:
            return 0.0, 0.0
        rate = per_minute / 60.0
        return rate, max(1.0, rate * limits.burst_s)

    req_rate, req_cap = dim(limits.rpm)
    tok_rate, tok_cap = dim(limits.tpm)
    # Keep an idle bucket a minute past full refill: after that it would read as full anyway.
    expiry_ms = int((limits.burst_s + 60.0) * 1000)
    return [req_rate, req_cap, tok_rate, tok_cap, tokens, expiry_ms]
