/**
 * Epochs: opaque ids that change whenever a conversation's past is rewritten.
 * Each must differ from every earlier one of the same conversation, across
 * replicas and restarts: a random prefix per process and a counter give that
 * without drawing random bytes on every write (every Append passes one, used
 * only when the conversation has none).
 */
import { randomBytes } from "node:crypto";

const PROCESS_PREFIX = randomBytes(9).toString("base64url");
let next = 0;

export function newEpoch(): string {
  return `${PROCESS_PREFIX}${(next++).toString(36)}`;
}
