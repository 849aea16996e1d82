/** Counters read from the Redis under test: command calls (to prove every call ran), memory, its pid. */
import type { Redis } from "ioredis";

export interface CommandStat {
  calls: number;
  failedCalls: number;
}

/** Calls per command from INFO commandstats, e.g. { evalsha: { calls, failedCalls } }. */
export async function commandStats(redis: Redis): Promise<Map<string, CommandStat>> {
  const info = await redis.info("commandstats");
  const stats = new Map<string, CommandStat>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),.*?(?:failed_calls=(\d+))?\r?$/gm)) {
    stats.set(match[1] ?? "", { calls: Number(match[2]), failedCalls: Number(match[3] ?? 0) });
  }
  return stats;
}

/** How many times `command` ran (and failed) between two snapshots. */
export function commandDelta(before: Map<string, CommandStat>, after: Map<string, CommandStat>, command: string): CommandStat {
  const a = before.get(command) ?? { calls: 0, failedCalls: 0 };
  const b = after.get(command) ?? { calls: 0, failedCalls: 0 };
  return { calls: b.calls - a.calls, failedCalls: b.failedCalls - a.failedCalls };
}

export async function usedMemoryBytes(redis: Redis): Promise<number> {
  const info = await redis.info("memory");
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
}

export async function redisPid(redis: Redis): Promise<number> {
  const info = await redis.info("server");
  return Number(/^process_id:(\d+)/m.exec(info)?.[1]);
}
