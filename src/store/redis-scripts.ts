/**
 * The Lua scripts behind the Redis store. Each runs atomically in Redis, in
 * one round trip, so concurrent appends from many replicas never interleave
 * inside a batch and there is never a read-modify-write from Node.
 *
 * Keys of one conversation (all in one Redis Cluster slot: the companions'
 * hash tag is the whole list key, which itself has no braces):
 *   KEYS[1] <prefix>:<id>                 the List of JSON elements (the Python class's key)
 *   KEYS[2] {<prefix>:<id>}:request-ids   Hash request_id -> "<count>:<fingerprint>"
 *   KEYS[3] {<prefix>:<id>}:request-expiry  Sorted set request_id -> expiry (epoch ms)
 */
import type { Cluster, Redis, Result } from "ioredis";

declare module "ioredis" {
  interface RedisCommander<Context> {
    chatmemoryAppend(
      list: string,
      requestIds: string,
      requestExpiry: string,
      maxMessages: number,
      ttlMs: number,
      requestId: string,
      fingerprint: string,
      requestIdTtlMs: number,
      ...elements: string[]
    ): Result<[number, string], Context>;
    chatmemoryClear(list: string, requestIds: string, requestExpiry: string): Result<number, Context>;
  }
}

/**
 * ARGV: maxMessages, ttlMs (0 = none), requestId ('' = none), fingerprint, requestIdTtlMs, elements...
 * Returns {count, previousFingerprint}: previousFingerprint is '' for a fresh append and the
 * first call's fingerprint for a replay (whose count is then the first call's count).
 */
export const APPEND_LUA = `
local requestId = ARGV[3]
local now = 0
if requestId ~= '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  -- Forget ids past their lifetime, in chunks (unpack has a stack limit).
  local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
  while #expired > 0 do
    redis.call('HDEL', KEYS[2], unpack(expired))
    redis.call('ZREM', KEYS[3], unpack(expired))
    expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
  end
  local previous = redis.call('HGET', KEYS[2], requestId)
  if previous then
    local separator = string.find(previous, ':', 1, true)
    return {tonumber(string.sub(previous, 1, separator - 1)), string.sub(previous, separator + 1)}
  end
end

local count = redis.call('RPUSH', KEYS[1], unpack(ARGV, 6))
local maxMessages = tonumber(ARGV[1])
if count > maxMessages then
  redis.call('LTRIM', KEYS[1], -maxMessages, -1)
  count = maxMessages
end
local ttlMs = tonumber(ARGV[2])
if ttlMs > 0 then
  redis.call('PEXPIRE', KEYS[1], ttlMs)
end

if requestId ~= '' then
  local requestIdTtlMs = tonumber(ARGV[5])
  redis.call('HSET', KEYS[2], requestId, count .. ':' .. ARGV[4])
  redis.call('ZADD', KEYS[3], now + requestIdTtlMs, requestId)
  redis.call('PEXPIRE', KEYS[2], requestIdTtlMs)
  redis.call('PEXPIRE', KEYS[3], requestIdTtlMs)
end
return {count, ''}
`;

/** Deletes the list and its companions; returns 1 when the list existed. */
export const CLEAR_LUA = `
local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return existed
`;

/** The conversation's List key, exactly as the Python class names it. */
export function listKey(keyPrefix: string, conversationId: string): string {
  return `${keyPrefix}:${conversationId}`;
}

/** The keys of one conversation, in the order the scripts take them. */
export function conversationKeys(keyPrefix: string, conversationId: string): [list: string, requestIds: string, requestExpiry: string] {
  const list = listKey(keyPrefix, conversationId);
  return [list, `{${list}}:request-ids`, `{${list}}:request-expiry`];
}

/** Registers the scripts as commands on a connection: EVALSHA, falling back to EVAL after a Redis restart. */
export function defineScriptCommands(client: Redis | Cluster): void {
  client.defineCommand("chatmemoryAppend", { numberOfKeys: 3, lua: APPEND_LUA });
  client.defineCommand("chatmemoryClear", { numberOfKeys: 3, lua: CLEAR_LUA });
}
