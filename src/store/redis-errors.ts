/**
 * Translates ioredis failures in one place: anything that means "Redis is not
 * reachable or not answering right now" becomes StoreUnavailableError
 * (UNAVAILABLE, retryable); a key of the wrong type becomes StoreDataError.
 * Anything else is a bug or an unexpected server error and is rethrown as is.
 */
import { ReplyError } from "ioredis";
import { StoreDataError, StoreUnavailableError } from "./chat-store.js";
import { didNotRunHere } from "./redis-redirections.js";

/** Server replies that mean "not now" rather than "never": loading, failing over, script busy, ... */
const TRANSIENT_REPLY_PREFIXES = ["LOADING", "BUSY", "MASTERDOWN", "READONLY", "NOREPLICAS"];

export function toStoreError(error: unknown): Error {
  if (error instanceof ReplyError) {
    const message = String((error as Error).message);
    if (message.startsWith("WRONGTYPE")) {
      return new StoreDataError("the conversation key holds a value that is not a list", { cause: error });
    }
    if (didNotRunHere(error)) {
      return new StoreUnavailableError("a slot of the Redis Cluster was moving; retry", { cause: error });
    }
    if (TRANSIENT_REPLY_PREFIXES.some((prefix) => message.startsWith(prefix))) {
      return new StoreUnavailableError("redis is temporarily unable to serve the request", { cause: error });
    }
    return error as Error;
  }
  // Everything ioredis raises without a server reply is about the connection:
  // timeouts, refused or dropped connections, a closed client, offline queue disabled.
  return new StoreUnavailableError("redis is unavailable", { cause: error });
}
