/**
 * A hook around each Redis command a store request sends, so something above the store (tracing,
 * src/tracing) can time and name it without the store knowing any tracing library.
 */

/** One Redis command as the store sends it. */
export interface RedisCommand {
  /** The Redis command sent, e.g. EVALSHA. */
  operation: string;
  /** The Lua script it runs (src/store/redis-scripts.ts), e.g. chatmemoryWrite; undefined for plain commands. */
  script?: string;
}

export interface RedisCommandHook {
  /** Runs `send` (the command's round trip) and resolves or rejects as it does. */
  around<T>(command: RedisCommand, send: () => Promise<T>): Promise<T>;
}
