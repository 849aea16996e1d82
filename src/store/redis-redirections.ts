/**
 * Redis Cluster replies that mean "this command did not run here": MOVED and ASK (the slot is
 * served elsewhere, or is moving), TRYAGAIN (a multi-key command met a slot half moved),
 * CLUSTERDOWN, and a script stopped when it met a key of a slot that moved ("non local key").
 * ioredis follows them itself, except in an auto-pipelined batch that also holds commands that
 * succeeded (redis/ioredis#2075): then the reply reaches the caller, and ioredis keeps routing by
 * its old slot map. So the store refreshes the map and sends again; nothing ran, so that is safe.
 */
import { Cluster, ReplyError } from "ioredis";
import pRetry from "p-retry";
import type { RedisConnection } from "./redis-connection.js";

const NOT_RUN_PREFIXES = ["MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN"];
// Five sends at most (one at once after the first refresh, then 10, 20 and 40 ms apart): about a
// reshard's step for one slot; past that the caller gets UNAVAILABLE and retries.
const RETRIES = 4;
const FIRST_DELAY_MS = 10;

export function didNotRunHere(error: unknown): boolean {
  if (!(error instanceof ReplyError)) return false;
  const message = String((error as Error).message);
  return NOT_RUN_PREFIXES.some((prefix) => message.startsWith(prefix)) || message.includes("non local key");
}

function refreshSlotMaps(clients: readonly RedisConnection[]): Promise<unknown> {
  return Promise.all(
    clients.map((client) =>
      client instanceof Cluster ? new Promise<void>((resolve) => client.refreshSlotsCache(() => resolve())) : Promise.resolve(),
    ),
  );
}

/**
 * Runs `send`; when Redis answers that it did not run it (above), refreshes the clients' slot maps
 * and sends again, a few times. The first attempt costs nothing extra.
 */
export async function sendFollowingSlotMoves<T>(clients: readonly RedisConnection[], send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error: unknown) {
    if (!didNotRunHere(error)) throw error;
    await refreshSlotMaps(clients);
    return pRetry(send, {
      retries: RETRIES - 1,
      minTimeout: FIRST_DELAY_MS,
      factor: 2,
      shouldRetry: ({ error: next }) => didNotRunHere(next),
      onFailedAttempt: async ({ error: next }) => {
        if (didNotRunHere(next)) await refreshSlotMaps(clients);
      },
    });
  }
}
