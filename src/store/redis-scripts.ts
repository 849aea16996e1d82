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
 *   KEYS[4] {<prefix>:<id>}:request-ids     Hash request_id -> "<count>:<fingerprint>", "<request_id> seqs" -> "<first>:<last>"
 *   KEYS[5] {<prefix>:<id>}:request-expiry  Sorted set request_id -> expiry (epoch ms)
 *
 * Every write that changes what a conversation holds announces it, in the same atomic step, on the
 * sharded Pub/Sub channel `{<prefix>:<id>}:watch` (same slot as the keys): "a <epoch> <first> <last>"
 * after an append, "r <epoch>" after a rewrite (Replace, DeleteMessages, Clear; epoch '' when
 * nothing is held any more). redis.pcall: a Redis without sharded Pub/Sub (before 7.0) or an ACL
 * user without the channel still stores; Watch then fails where it subscribes.
 */
import type { Cluster, Redis, Result } from "ioredis";

declare module "ioredis" {
  interface RedisCommander<Context> {
    chatmemoryWrite(
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
      mode: "append" | "replace",
      ...elements: string[]
    ): Result<[number, string | number, number, number], Context>;
    chatmemoryDelete(list: string, pinned: string, meta: string, newEpoch: string, ...seqs: string[]): Result<string[], Context>;
    chatmemoryRead(list: string, pinned: string, meta: string, start: number): Result<[string[], string[], number, string, string], Context>;
    /** The same, with elements as the bytes Redis sent (the window cache compares them). */
    chatmemoryReadBuffer(list: string, pinned: string, meta: string, start: number): Result<[Buffer[], Buffer[], number, Buffer, Buffer], Context>;
    chatmemoryCount(list: string, pinned: string): Result<[number, number], Context>;
    chatmemoryClear(list: string, pinned: string, meta: string, requestIds: string, requestExpiry: string): Result<number, Context>;
  }
}

/**
 * Append, or Replace (mode 'replace': the pinned list and window are emptied first, and the epoch
 * always changes). ARGV: maxMessages, ttlMs (0 = keep the current expiry), requestId ('' = none),
 * fingerprint, requestIdTtlMs, maxPinned, toolSafe ('1'/'0'), pins (one '1'/'0' per element),
 * newEpoch (used when the conversation has none, or by a replace), mode ('append'/'replace'),
 * elements... (JSON objects without a seq).
 * Returns {count, previousFingerprint, firstSeq, lastSeq}: previousFingerprint is '' for a fresh
 * write and the first call's fingerprint for a replay (with the first call's numbers);
 * {-1, index} when pinning elements[index] would exceed maxPinned (nothing is stored).
 * A request id is kept as "<count>:<fingerprint>" (the form servers before seqs read) and its
 * seqs beside it under "<id> seqs" (a space never occurs in an id).
 */
export const WRITE_LUA = `
local requestId = ARGV[3]
local replace = ARGV[10] == 'replace'
local now = 0
if requestId ~= '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  -- Forget ids past their lifetime, in chunks (unpack has a stack limit).
  local expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 500)
  while #expired > 0 do
    local fields = {}
    for i, id in ipairs(expired) do
      fields[#fields + 1] = id
      fields[#fields + 1] = id .. ' seqs'
    end
    redis.call('HDEL', KEYS[4], unpack(fields))
    redis.call('ZREM', KEYS[5], unpack(expired))
    expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 500)
  end
  local previous = redis.call('HGET', KEYS[4], requestId)
  if previous then
    local count, fingerprint = string.match(previous, '^(%d+):(.*)$')
    local first, last = 0, 0
    local seqs = redis.call('HGET', KEYS[4], requestId .. ' seqs')
    if seqs then first, last = string.match(seqs, '^(%d+):(%d+)$') end
    return {tonumber(count), fingerprint, tonumber(first), tonumber(last)}
  end
end

local pins = ARGV[8]
local n = #ARGV - 10
local newPinned = 0
for i = 1, n do
  if string.byte(pins, i) == 49 then newPinned = newPinned + 1 end
end
if newPinned > 0 then
  local maxPinned = tonumber(ARGV[6])
  local held = 0
  if not replace then held = redis.call('LLEN', KEYS[2]) end
  if held + newPinned > maxPinned then
    for i = 1, n do
      if string.byte(pins, i) == 49 then
        held = held + 1
        if held > maxPinned then return {-1, i - 1, 0, 0} end
      end
    end
  end
end

local epoch = ARGV[9]
if replace then
  local held = redis.call('EXISTS', KEYS[1], KEYS[2])
  -- On a conversation that holds nothing, an empty replace creates nothing.
  if n == 0 and held == 0 then return {0, '', 0, 0} end
  redis.call('DEL', KEYS[1], KEYS[2])
  if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HSET', KEYS[3], 'epoch', epoch) end
end

-- The expiry a write without its own TTL keeps: the conversation's current one (PTTL: -2 = no meta yet, -1 = none).
local ttlMs = tonumber(ARGV[2])
local metaTtl = redis.call('PTTL', KEYS[3])
if metaTtl == -2 then
  redis.call('HSET', KEYS[3], 'epoch', epoch)
else
  if not replace then epoch = redis.call('HGET', KEYS[3], 'epoch') or '' end
  if ttlMs == 0 then ttlMs = math.max(metaTtl, 0) end
end
local first, last = 0, 0
if n > 0 then
  last = redis.call('HINCRBY', KEYS[3], 'seq', n)
  first = last - n + 1
end

local window, pinned = {}, {}
for i = 1, n do
  local element = '{"seq":' .. (first + i - 1) .. ',' .. string.sub(ARGV[10 + i], 2)
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
      local raw = redis.call('LINDEX', KEYS[1], 0)
      -- Only an element holding 'tool' (or a \\u escape, which could spell it) can be a tool message: decode just those.
      if not (string.find(raw, 'tool', 1, true) or string.find(raw, '\\\\u', 1, true)) then break end
      local ok, head = pcall(cjson.decode, raw)
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
  redis.call('HSET', KEYS[4], requestId, count .. ':' .. ARGV[4], requestId .. ' seqs', first .. ':' .. last)
  redis.call('ZADD', KEYS[5], now + requestIdTtlMs, requestId)
  redis.call('PEXPIRE', KEYS[4], requestIdTtlMs)
  redis.call('PEXPIRE', KEYS[5], requestIdTtlMs)
end
local channel = '{' .. KEYS[1] .. '}:watch'
if replace then
  if n == 0 then epoch = '' end
  redis.pcall('SPUBLISH', channel, 'r ' .. epoch)
elseif n > 0 then
  redis.pcall('SPUBLISH', channel, 'a ' .. epoch .. ' ' .. first .. ' ' .. last)
end
return {count, '', first, last}
`;

/**
 * ARGV: newEpoch, seqs... Deletes the window and pinned elements with those seqs (written as
 * '{"seq":N,' by the write script) and, when any was deleted, gives the conversation a new epoch.
 * Returns {pinnedFlag, element, ...} for the deleted ones ('1' = it was pinned).
 */
export const DELETE_LUA = `
local wanted = {}
for i = 2, #ARGV do wanted[ARGV[i]] = true end
local deleted = {}
for _, key in ipairs({KEYS[2], KEYS[1]}) do
  local flag = key == KEYS[2] and '1' or '0'
  for _, element in ipairs(redis.call('LRANGE', key, 0, -1)) do
    local seq = string.match(element, '^{"seq":(%d+),')
    if seq and wanted[seq] then
      redis.call('LREM', key, 1, element)
      deleted[#deleted + 1] = flag
      deleted[#deleted + 1] = element
    end
  end
end
if #deleted > 0 then
  if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HSET', KEYS[3], 'epoch', ARGV[1]) end
  local epoch = ''
  if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then epoch = ARGV[1] end
  redis.pcall('SPUBLISH', '{' .. KEYS[1] .. '}:watch', 'r ' .. epoch)
end
return deleted
`;

/**
 * ARGV: start (0 = the whole window, -N = its newest N elements).
 * Returns {pinned elements, window elements, window length, epoch ('' when nothing is held), last
 * seq given ('0' for none)}.
 */
export const READ_LUA = `
local pinned = redis.call('LRANGE', KEYS[2], 0, -1)
local window = redis.call('LRANGE', KEYS[1], tonumber(ARGV[1]), -1)
local length = redis.call('LLEN', KEYS[1])
local meta = redis.call('HMGET', KEYS[3], 'epoch', 'seq')
local epoch = ''
if length > 0 or #pinned > 0 then epoch = meta[1] or '' end
return {pinned, window, length, epoch, meta[2] or '0'}
`;

/** Returns {window length, pinned count}. */
export const COUNT_LUA = `
return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2])}
`;

/** Deletes the window and its companions; returns 1 when any message was held. */
export const CLEAR_LUA = `
local held = redis.call('EXISTS', KEYS[1], KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
if held > 0 then
  redis.pcall('SPUBLISH', '{' .. KEYS[1] .. '}:watch', 'r ')
  return 1
end
return 0
`;

/** The conversation's List key, exactly as the Python class names it. */
export function listKey(keyPrefix: string, conversationId: string): string {
  return `${keyPrefix}:${conversationId}`;
}

/** The sharded Pub/Sub channel a conversation's changes are announced on (the scripts build the same name). */
export function changeChannel(keyPrefix: string, conversationId: string): string {
  return `{${listKey(keyPrefix, conversationId)}}:watch`;
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
  client.defineCommand("chatmemoryWrite", { numberOfKeys: 5, lua: WRITE_LUA });
  client.defineCommand("chatmemoryDelete", { numberOfKeys: 3, lua: DELETE_LUA });
  client.defineCommand("chatmemoryRead", { numberOfKeys: 3, lua: READ_LUA });
  client.defineCommand("chatmemoryCount", { numberOfKeys: 2, lua: COUNT_LUA });
  client.defineCommand("chatmemoryClear", { numberOfKeys: 5, lua: CLEAR_LUA });
}
