/**
 * The Lua scripts behind the Redis store. Each runs atomically in Redis, in
 * one round trip, so concurrent appends from many replicas never interleave
 * inside a batch and there is never a read-modify-write from Node.
 *
 * Keys of one conversation (all in one Redis Cluster slot: the companions'
 * hash tag is the whole list key, which itself has no braces):
 *   KEYS[1] <prefix>:<id>                   the window: a List of JSON elements (the Python class's key)
 *   KEYS[2] {<prefix>:<id>}:pinned          the pinned messages: a List of JSON elements
 *   KEYS[3] {<prefix>:<id>}:meta            Hash: `seq` (the last seq given), `epoch`, `appended` (last write, ms),
 *                                           `indexed` ('1' while the id is in its index bucket)
 *   KEYS[4] {<prefix>:<id>}:request-ids     Hash request_id -> "<count>:<fingerprint>", "<request_id> seqs" -> "<first>:<last>"
 *   KEYS[5] {<prefix>:<id>}:request-expiry  Sorted set request_id -> expiry (epoch ms)
 *   KEYS[6] <prefix>:{<tag>}:conversations  the conversation index bucket of its slot (redis-conversation-index.ts)
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
      index: string,
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
      nowMs: number,
      ...elements: string[]
    ): Result<[number, string | number, number, number], Context>;
    chatmemoryDelete(list: string, pinned: string, meta: string, newEpoch: string, ...seqs: string[]): Result<string[], Context>;
    chatmemoryRead(list: string, pinned: string, meta: string, start: number): Result<[string[], string[], number, string, string], Context>;
    /** The same, with elements as the bytes Redis sent (the window cache compares them). */
    chatmemoryReadBuffer(list: string, pinned: string, meta: string, start: number): Result<[Buffer[], Buffer[], number, Buffer, Buffer], Context>;
    chatmemoryCount(list: string, pinned: string): Result<[number, number], Context>;
    chatmemoryClear(list: string, pinned: string, meta: string, requestIds: string, requestExpiry: string, index: string): Result<number, Context>;
    /** A run of buckets' page: [state, offset, last member examined, (offset, member, window length, last write ms or ''), ...]. */
    chatmemoryListBuckets(
      firstBucket: string,
      keyPrefix: string,
      min: string,
      max: string,
      limit: number,
      budget: number,
      laterMin: string,
      ...tags: string[]
    ): Result<(string | number)[], Context>;
  }
}

/**
 * Append, or Replace (mode 'replace': the pinned list and window are emptied first, and the epoch
 * always changes). ARGV: maxMessages, ttlMs (0 = keep the current expiry), requestId ('' = none),
 * fingerprint, requestIdTtlMs, maxPinned, toolSafe ('1'/'0'), pins (one '1'/'0' per element),
 * newEpoch (used when the conversation has none, or by a replace), mode ('append'/'replace'),
 * nowMs (the server's clock: the write's time, and when request ids expire), elements... (JSON
 * objects without a seq).
 * Returns {count, previousFingerprint, firstSeq, lastSeq}: previousFingerprint is '' for a fresh
 * write and the first call's fingerprint for a replay (with the first call's numbers);
 * {-1, index} when pinning elements[index] would exceed maxPinned (nothing is stored).
 * A request id is kept as "<count>:<fingerprint>" (the form servers before seqs read) and its
 * seqs beside it under "<id> seqs" (a space never occurs in an id).
 */
export const WRITE_LUA = `
local requestId = ARGV[3]
local replace = ARGV[10] == 'replace'
local now = tonumber(ARGV[11])
if requestId ~= '' then
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
local n = #ARGV - 11
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
end

local ttlMs = tonumber(ARGV[2])
local meta = redis.call('HMGET', KEYS[3], 'epoch', 'seq', 'indexed')
if not replace and meta[1] then epoch = meta[1] end
local seq = tonumber(meta[2]) or 0
-- No counter, but messages may still be held: :meta expired while the Python class kept the list
-- alive (its own, longer TTL), or was deleted. Seqs go on after the highest one held.
if not meta[1] and not replace and n > 0 then
  for key = 1, 2 do
    for _, element in ipairs(redis.call('LRANGE', KEYS[key], 0, -1)) do
      local held = tonumber(string.match(element, '^{"seq":(%d+),'))
      if held and held > seq then seq = held end
    end
  end
end
local first, last = 0, 0
if n > 0 then
  first = seq + 1
  last = seq + n
  seq = last
end
-- ListConversations: this write adds the id to its slot's index only when :meta does not say it is there
-- (a first write; or the listing pruned it while it held nothing, and took 'indexed' away then).
local index = n > 0 and not meta[3]
if index then
  redis.call('HSET', KEYS[3], 'epoch', epoch, 'seq', seq, 'appended', now, 'indexed', '1')
else
  redis.call('HSET', KEYS[3], 'epoch', epoch, 'seq', seq, 'appended', now)
end

local window, pinned = {}, {}
for i = 1, n do
  local element = '{"seq":' .. (first + i - 1) .. ',' .. string.sub(ARGV[11 + i], 2)
  if string.byte(pins, i) == 49 then pinned[#pinned + 1] = element else window[#window + 1] = element end
end
-- A key this write creates (the first pinned message, a window emptied before) gets no expiry of its own.
local created = false
if #pinned > 0 then created = redis.call('RPUSH', KEYS[2], unpack(pinned)) == #pinned end
local count
if #window > 0 then
  count = redis.call('RPUSH', KEYS[1], unpack(window))
  created = created or count == #window
else
  count = redis.call('LLEN', KEYS[1])
end
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
-- Without a TTL of its own, a write keeps the conversation's current one (PTTL -1 = none). Keys
-- that already existed still carry it; a key this write created, and request ids, need it read.
if ttlMs == 0 and meta[1] and (created or requestId ~= '') then ttlMs = math.max(redis.call('PTTL', KEYS[3]), 0) end

if requestId ~= '' then
  -- Ids live their own time, but never longer than the conversation they belong to.
  local requestIdTtlMs = tonumber(ARGV[5])
  if ttlMs > 0 and ttlMs < requestIdTtlMs then requestIdTtlMs = ttlMs end
  redis.call('HSET', KEYS[4], requestId, count .. ':' .. ARGV[4], requestId .. ' seqs', first .. ':' .. last)
  redis.call('ZADD', KEYS[5], now + requestIdTtlMs, requestId)
  redis.call('PEXPIRE', KEYS[4], requestIdTtlMs)
  redis.call('PEXPIRE', KEYS[5], requestIdTtlMs)
end
-- After the ids': a relative expiry counts from the clock of each PEXPIRE, and the clock can tick
-- between two of them, so keys set later may expire a millisecond later, never the ids.
if ttlMs > 0 then
  for key = 1, 3 do redis.call('PEXPIRE', KEYS[key], ttlMs) end
end
-- Member: the list key without '<prefix>:'.
if index then redis.call('ZADD', KEYS[6], 0, string.sub(KEYS[1], string.find(KEYS[6], ':{', 1, true) + 1)) end
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

/** Deletes the window and its companions, and takes it out of its index bucket; returns 1 when any message was held. */
export const CLEAR_LUA = `
local held = redis.call('EXISTS', KEYS[1], KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[6], string.sub(KEYS[1], string.find(KEYS[6], ':{', 1, true) + 1))
if held > 0 then
  redis.pcall('SPUBLISH', '{' .. KEYS[1] .. '}:watch', 'r ')
  return 1
end
return 0
`;

/**
 * A run of index buckets' part of a listing, walked in order. KEYS[1]: the first bucket (it routes
 * the call to the node serving the run's slots). ARGV: keyPrefix, min (ZRANGEBYLEX bound in the
 * first bucket), max, limit (most conversations to return), budget (most members to look at),
 * min in the later buckets, then the run's bucket tags (`<prefix>:{<tag>}:conversations`).
 * A member whose conversation holds nothing (expired, cleared by the Python class, emptied) is
 * removed here, atomically with the check, so a concurrent Append that re-adds it is never undone.
 * The later buckets and the members' keys are not in KEYS (they are known only from the index and
 * the slot map): they live on this node, in other slots, which scripts without flags may read.
 * Returns {state, offset, last, (offset, member, windowLength, appendedMs or ''), ...}: state
 * 'end' = the run is done; 'more' = resume in bucket `offset` of the run after member `last`.
 */
export const LIST_BUCKETS_LUA = `
local prefix, max = ARGV[1], ARGV[3]
local limit, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {'end', 0, ''}
local found, examined = 0, 0
for b = 7, #ARGV do
  local offset = b - 7
  local bucket = prefix .. ':{' .. ARGV[b] .. '}:conversations'
  local min = ARGV[6]
  if offset == 0 then min = ARGV[2] end
  while true do
    local wanted = limit - found
    local members = redis.call('ZRANGEBYLEX', bucket, min, max, 'LIMIT', 0, wanted)
    for _, member in ipairs(members) do
      examined = examined + 1
      local list = prefix .. ':' .. member
      local count = redis.call('LLEN', list)
      if count == 0 and redis.call('EXISTS', '{' .. list .. '}:pinned') == 0 then
        redis.call('ZREM', bucket, member)
        -- The next write that stores something adds it back (the write script reads 'indexed').
        redis.call('HDEL', '{' .. list .. '}:meta', 'indexed')
      else
        found = found + 1
        out[#out + 1] = offset
        out[#out + 1] = member
        out[#out + 1] = count
        out[#out + 1] = redis.call('HGET', '{' .. list .. '}:meta', 'appended') or ''
      end
      if found == limit or examined >= budget then
        out[1], out[2], out[3] = 'more', offset, member
        return out
      end
      min = '(' .. member
    end
    if #members < wanted then break end
  end
end
return out
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
  client.defineCommand("chatmemoryWrite", { numberOfKeys: 6, lua: WRITE_LUA });
  client.defineCommand("chatmemoryDelete", { numberOfKeys: 3, lua: DELETE_LUA });
  client.defineCommand("chatmemoryRead", { numberOfKeys: 3, lua: READ_LUA });
  client.defineCommand("chatmemoryCount", { numberOfKeys: 2, lua: COUNT_LUA });
  client.defineCommand("chatmemoryClear", { numberOfKeys: 6, lua: CLEAR_LUA });
  client.defineCommand("chatmemoryListBuckets", { numberOfKeys: 1, lua: LIST_BUCKETS_LUA });
}
