/**
 * The Lua scripts behind the Redis store. Each runs atomically in Redis, in
 * one round trip, so concurrent appends from many replicas never interleave
 * inside a batch and there is never a read-modify-write from Node.
 *
 * Keys of one conversation (all in one Redis Cluster slot: the companions'
 * hash tag is the whole list key, which itself has no braces):
 *   KEYS[1] <prefix>:<id>                   the window: a List of JSON elements (the Python class's key)
 *   KEYS[2] {<prefix>:<id>}:pinned          the pinned messages: a List of JSON elements
 *   KEYS[3] {<prefix>:<id>}:meta            Hash: `seq` (the last seq given), `epoch`
 *   KEYS[4] {<prefix>:<id>}:request-ids     Hash request_id -> "<count>:<firstSeq>:<lastSeq>:<fingerprint>"
 *   KEYS[5] {<prefix>:<id>}:request-expiry  Sorted set request_id -> expiry (epoch ms)
 */
import type { Cluster, Redis, Result } from "ioredis";

declare module "ioredis" {
  interface RedisCommander<Context> {
    chatmemoryAppend(
      list: string,
      pinned: string,
      meta: string,
      requestIds: string,
      requestExpiry: string,
      maxMessages: number,
      ttlMs: number,
      requestId: string,
      fingerprint: string,
      requestIdTtlMs: number,
      maxPinned: number,
      toolSafe: string,
      pins: string,
      newEpoch: string,
      ...elements: string[]
    ): Result<[number, string | number, number, number], Context>;
    chatmemoryRead(list: string, pinned: string, meta: string, start: number): Result<[string[], string[], number, string], Context>;
    /** The same, with elements as the bytes Redis sent (the window cache compares them). */
    chatmemoryReadBuffer(list: string, pinned: string, meta: string, start: number): Result<[Buffer[], Buffer[], number, Buffer], Context>;
    chatmemoryCount(list: string, pinned: string): Result<[number, number], Context>;
    chatmemoryClear(list: string, pinned: string, meta: string, requestIds: string, requestExpiry: string): Result<number, Context>;
  }
}

/**
 * ARGV: maxMessages, ttlMs (0 = keep the current expiry), requestId ('' = none), fingerprint,
 * requestIdTtlMs, maxPinned, toolSafe ('1'/'0'), pins (one '1'/'0' per element), newEpoch (used
 * when the conversation has none), elements... (JSON objects without a seq).
 * Returns {count, previousFingerprint, firstSeq, lastSeq}: previousFingerprint is '' for a fresh
 * append and the first call's fingerprint for a replay (with the first call's numbers);
 * {-1, index} when pinning elements[index] would exceed maxPinned (nothing is stored).
 */
export const APPEND_LUA = `
local requestId = ARGV[3]
local now = 0
if requestId ~= '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  -- Forget ids past their lifetime, in chunks (unpack has a stack limit).
  local expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 1000)
  while #expired > 0 do
    redis.call('HDEL', KEYS[4], unpack(expired))
    redis.call('ZREM', KEYS[5], unpack(expired))
    expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 1000)
  end
  local previous = redis.call('HGET', KEYS[4], requestId)
  if previous then
    local count, first, last, fingerprint = string.match(previous, '^(%d+):(%d+):(%d+):(.*)$')
    if not count then
      -- Recorded before seqs existed: "<count>:<fingerprint>".
      count, fingerprint = string.match(previous, '^(%d+):(.*)$')
      first, last = 0, 0
    end
    return {tonumber(count), fingerprint, tonumber(first), tonumber(last)}
  end
end

local pins = ARGV[8]
local n = #ARGV - 9
local newPinned = 0
for i = 1, n do
  if string.byte(pins, i) == 49 then newPinned = newPinned + 1 end
end
if newPinned > 0 then
  local maxPinned = tonumber(ARGV[6])
  local held = redis.call('LLEN', KEYS[2])
  if held + newPinned > maxPinned then
    for i = 1, n do
      if string.byte(pins, i) == 49 then
        held = held + 1
        if held > maxPinned then return {-1, i - 1, 0, 0} end
      end
    end
  end
end

-- The expiry a write without its own TTL keeps: the conversation's current one.
local ttlMs = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[3], 'epoch', ARGV[9])
elseif ttlMs == 0 then
  ttlMs = math.max(redis.call('PTTL', KEYS[3]), 0)
end
local last = redis.call('HINCRBY', KEYS[3], 'seq', n)
local first = last - n + 1

local window, pinned = {}, {}
for i = 1, n do
  local element = '{"seq":' .. (first + i - 1) .. ',' .. string.sub(ARGV[9 + i], 2)
  if string.byte(pins, i) == 49 then pinned[#pinned + 1] = element else window[#window + 1] = element end
end
if #pinned > 0 then redis.call('RPUSH', KEYS[2], unpack(pinned)) end
local count
if #window > 0 then count = redis.call('RPUSH', KEYS[1], unpack(window)) else count = redis.call('LLEN', KEYS[1]) end
local maxMessages = tonumber(ARGV[1])
if count > maxMessages then
  redis.call('LTRIM', KEYS[1], -maxMessages, -1)
  count = maxMessages
  -- Tool-safe: a tool message whose assistant call was just trimmed goes too.
  if ARGV[7] == '1' then
    while count > 0 do
      local ok, head = pcall(cjson.decode, redis.call('LINDEX', KEYS[1], 0))
      if not (ok and type(head) == 'table' and head.role == 'tool') then break end
      redis.call('LPOP', KEYS[1])
      count = count - 1
    end
  end
end
if ttlMs > 0 then
  for key = 1, 3 do redis.call('PEXPIRE', KEYS[key], ttlMs) end
end

if requestId ~= '' then
  -- Ids live their own time, but never longer than the conversation they belong to.
  local requestIdTtlMs = tonumber(ARGV[5])
  if ttlMs > 0 and ttlMs < requestIdTtlMs then requestIdTtlMs = ttlMs end
  redis.call('HSET', KEYS[4], requestId, count .. ':' .. first .. ':' .. last .. ':' .. ARGV[4])
  redis.call('ZADD', KEYS[5], now + requestIdTtlMs, requestId)
  redis.call('PEXPIRE', KEYS[4], requestIdTtlMs)
  redis.call('PEXPIRE', KEYS[5], requestIdTtlMs)
end
return {count, '', first, last}
`;

/**
 * ARGV: start (0 = the whole window, -N = its newest N elements).
 * Returns {pinned elements, window elements, window length, epoch ('' when nothing is held)}.
 */
export const READ_LUA = `
local pinned = redis.call('LRANGE', KEYS[2], 0, -1)
local window = redis.call('LRANGE', KEYS[1], tonumber(ARGV[1]), -1)
local length = redis.call('LLEN', KEYS[1])
local epoch = ''
if length > 0 or #pinned > 0 then epoch = redis.call('HGET', KEYS[3], 'epoch') or '' end
return {pinned, window, length, epoch}
`;

/** Returns {window length, pinned count}. */
export const COUNT_LUA = `
return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2])}
`;

/** Deletes the window and its companions; returns 1 when any message was held. */
export const CLEAR_LUA = `
local held = redis.call('EXISTS', KEYS[1], KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
if held > 0 then return 1 end
return 0
`;

/** The conversation's List key, exactly as the Python class names it. */
export function listKey(keyPrefix: string, conversationId: string): string {
  return `${keyPrefix}:${conversationId}`;
}

/** The keys of one conversation, in the order the scripts take them. */
export function conversationKeys(
  keyPrefix: string,
  conversationId: string,
): [list: string, pinned: string, meta: string, requestIds: string, requestExpiry: string] {
  const list = listKey(keyPrefix, conversationId);
  return [list, `{${list}}:pinned`, `{${list}}:meta`, `{${list}}:request-ids`, `{${list}}:request-expiry`];
}

/** Registers the scripts as commands on a connection: EVALSHA, falling back to EVAL after a Redis restart. */
export function defineScriptCommands(client: Redis | Cluster): void {
  client.defineCommand("chatmemoryAppend", { numberOfKeys: 5, lua: APPEND_LUA });
  client.defineCommand("chatmemoryRead", { numberOfKeys: 3, lua: READ_LUA });
  client.defineCommand("chatmemoryCount", { numberOfKeys: 2, lua: COUNT_LUA });
  client.defineCommand("chatmemoryClear", { numberOfKeys: 5, lua: CLEAR_LUA });
}
