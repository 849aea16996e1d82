/**
 * One error type that carries a gRPC status code, and the one place that maps
 * internal failures to statuses. The internal cause is kept for logs and never
 * sent to the caller.
 */
import { status } from "@grpc/grpc-js";
import { RequestIdReusedError, StoreUnavailableError } from "../store/chat-store.js";
import { StoreDataError } from "../store/redis-errors.js";

export class ChatMemoryError extends Error {
  override readonly name = "ChatMemoryError";
  readonly code: status;

  constructor(code: status, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** A caller mistake in one field: the message starts with the field's path. */
  static invalidArgument(field: string, problem: string): ChatMemoryError {
    return new ChatMemoryError(status.INVALID_ARGUMENT, `${field}: ${problem}`);
  }
}

/** Maps any failure to the error sent to the caller; unknown failures become a bare INTERNAL. */
export function toChatMemoryError(error: unknown): ChatMemoryError {
  if (error instanceof ChatMemoryError) return error;
  if (error instanceof StoreUnavailableError) {
    return new ChatMemoryError(status.UNAVAILABLE, "the conversation store is unavailable; retry later", { cause: error });
  }
  if (error instanceof RequestIdReusedError) {
    return new ChatMemoryError(status.INVALID_ARGUMENT, "request_id: already used for different messages in this conversation", {
      cause: error,
    });
  }
  if (error instanceof StoreDataError) {
    return new ChatMemoryError(status.FAILED_PRECONDITION, error.message, { cause: error });
  }
  return new ChatMemoryError(status.INTERNAL, "internal error", { cause: error });
}
