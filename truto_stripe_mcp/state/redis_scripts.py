"""The Lua scripts that make each Redis change atomic: one round trip, no lock, no retry loop.

Under a burst, dozens of callers on several machines reserve rate-limit slots at the same
instant; an optimistic ``WATCH`` transaction would make them retry each other quadratically.
A script runs alone on the server, so each change is one step whoever else is asking.

:data:`WINDOW` is :class:`~truto_stripe_mcp.upstream.window.RateLimitState` (``reserve`` and
``observe``) written again in Lua, line for line; ``tests/state/test_redis_window.py``
replays random sequences of both on a real server and requires the same answers and state.
Numbers cross as ``%.17g`` strings, which round-trip a double exactly.
"""

from __future__ import annotations

CLAIM = """
-- KEYS[1] the record; ARGV: now, key, first_used_at, expires_at, lease_until
local now = tonumber(ARGV[1])
local raw = redis.call('HGETALL', KEYS[1])
local r = {}
for i = 1, #raw, 2 do r[raw[i]] = raw[i + 1] end
if r.key and tonumber(r.expires_at) > now and r.status ~= 'failed' then
  if r.status == 'pending' and tonumber(r.lease_until) <= now then
    redis.call('HSET', KEYS[1], 'lease_until', ARGV[5])
    return {1, 1, r.key, r.first_used_at, r.expires_at, r.status, ARGV[5], r.error or false}
  end
  return {0, 0, r.key, r.first_used_at, r.expires_at, r.status, r.lease_until, r.error or false}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'key', ARGV[2], 'first_used_at', ARGV[3], 'expires_at', ARGV[4],
  'status', 'pending', 'lease_until', ARGV[5])
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((tonumber(ARGV[4]) - now) * 1000)))
return {1, 0, ARGV[2], ARGV[3], ARGV[4], 'pending', ARGV[5], false}
"""

SETTLE = """
-- KEYS[1] the record; ARGV: key, status, error ('' for none)
if redis.call('HGET', KEYS[1], 'key') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'lease_until', '0')
  if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[1], 'error', ARGV[3])
  else
    redis.call('HDEL', KEYS[1], 'error')
  end
end
return 0
"""

RENEW = """
-- KEYS[1] the record; ARGV: key, lease_until
if redis.call('HGET', KEYS[1], 'key') == ARGV[1] and redis.call('HGET', KEYS[1], 'status') == 'pending' then
  redis.call('HSET', KEYS[1], 'lease_until', ARGV[2])
end
return 0
"""

SECRET = """
-- KEYS[1] the secret; ARGV: a new secret (kept only if there is none), ttl in ms
local secret = redis.call('GET', KEYS[1])
if not secret then
  secret = ARGV[1]
  redis.call('SET', KEYS[1], secret)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return secret
"""

WINDOW = """
-- KEYS[1] the window; ARGV: op ('reserve' | 'observe'), now, ttl in ms,
-- then for reserve: max_block;
-- for observe: status, generation, limit, window, remaining, reset_after, retry_after,
-- reset_resolution ('' for None), max_block
local K = KEYS[1]
local op, now, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local function num(v) if v == nil or v == '' then return nil end return tonumber(v) end
local max_block
if op == 'reserve' then max_block = num(ARGV[4]) else max_block = num(ARGV[12]) end
if max_block == nil then max_block = 60.0 end
local function truthy(v) return v ~= nil and v ~= 0 end
local function fmt(v) return string.format('%.17g', v) end

local raw = redis.call('HGETALL', K)
local s = {}
for i = 1, #raw, 2 do s[raw[i]] = raw[i + 1] end
local limit, window, remaining, reset_at = num(s.limit), num(s.window), num(s.remaining), num(s.reset_at)
local blocked_until = num(s.blocked_until) or 0
local default_block = num(s.default_block) or 1.0
local generation = num(s.generation) or 0
local reset_guessed = s.reset_guessed == '1'
local unmetered = num(s.unmetered) or 0

local function roll()
  if reset_at == nil or now < reset_at then return end
  if truthy(window) then
    reset_at = reset_at + window * (math.floor((now - reset_at) / window) + 1)
    reset_guessed = true
  else
    reset_at = nil
  end
  remaining = limit
  generation = generation + 1
end

local function hold_at_most()
  local horizon = now + max_block
  if blocked_until > horizon then blocked_until = horizon end
  if reset_at ~= nil and reset_at > horizon then reset_at = horizon end
end

local function lower(figure)
  if figure ~= nil then
    if remaining == nil then remaining = figure else remaining = math.min(remaining, figure) end
  end
end

local answer = 0
if op == 'reserve' then
  hold_at_most()
  if now < blocked_until then
    answer = blocked_until - now
  else
    roll()
    hold_at_most()
    if remaining == nil then
      unmetered = unmetered + 1
    elseif remaining > 0 then
      remaining = remaining - 1
    elseif reset_at ~= nil then
      answer = reset_at - now
    end
  end
else
  local status, gen = tonumber(ARGV[4]), num(ARGV[5])
  local i_limit, i_window, i_remaining = num(ARGV[6]), num(ARGV[7]), num(ARGV[8])
  local i_reset_after, i_retry_after, i_resolution = num(ARGV[9]), num(ARGV[10]), num(ARGV[11])
  roll()
  local was_unknown = remaining == nil
  unmetered = math.max(0, unmetered - 1)
  if i_limit ~= nil then limit = i_limit end
  if i_window ~= nil then window = i_window end
  local figure = i_remaining
  if figure ~= nil and was_unknown then figure = math.max(0, figure - unmetered) end
  local new_reset = nil
  if i_reset_after ~= nil then new_reset = now + math.min(i_reset_after, max_block) end
  local current = gen ~= nil and gen == generation
  local stale = gen ~= nil and gen < generation
  local slack = 1.0
  if truthy(i_resolution) then slack = i_resolution end
  slack = slack + 0.25
  local tol = slack
  if truthy(window) then tol = math.max(slack, window / 2) end
  if stale then
    -- sent in an earlier window: its figures describe that window
  elseif new_reset ~= nil and (reset_at == nil or new_reset > reset_at + tol) then
    reset_at, reset_guessed = new_reset, false
    if figure ~= nil then remaining = figure else remaining = limit end
  elseif new_reset ~= nil and current and reset_guessed then
    reset_at, reset_guessed = new_reset, false
    lower(figure)
  elseif new_reset ~= nil and (not current) and new_reset < reset_at - tol then
    -- a response from an older window: its remaining is stale
  elseif new_reset ~= nil then
    if not reset_guessed then reset_at = math.min(reset_at, new_reset) end
    lower(figure)
  elseif figure ~= nil and reset_at == nil then
    remaining = figure
    if truthy(window) then reset_at = now + window end
  else
    lower(figure)
  end
  if status == 429 then
    local wait = i_retry_after
    if wait == nil then wait = i_reset_after end
    if wait == nil then wait = default_block end
    blocked_until = math.max(blocked_until, now + math.min(wait, max_block))
    remaining = 0
    local overrides = i_retry_after ~= nil and not stale
    if overrides or reset_at == nil or reset_at < blocked_until then
      reset_at, reset_guessed = blocked_until, false
    end
  end
  if remaining ~= nil then unmetered = 0 end
  hold_at_most()
end

local fields = {'blocked_until', fmt(blocked_until), 'default_block', fmt(default_block),
  'generation', fmt(generation), 'reset_guessed', reset_guessed and '1' or '0', 'unmetered', fmt(unmetered)}
local optional = {limit = limit, window = window, remaining = remaining, reset_at = reset_at}
for name, value in pairs(optional) do
  table.insert(fields, name)
  table.insert(fields, fmt(value))
end
redis.call('DEL', K)
redis.call('HSET', K, unpack(fields))
redis.call('PEXPIRE', K, ttl)
return {fmt(answer), generation}
"""
