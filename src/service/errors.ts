/**
 * One error type that carries a gRPC status code, and the one place that maps
 * store failures to statuses. The internal cause is kept for logs and never
 * sent to the caller. The codes are gRPC's own numbers (the status codes are
 * the API), declared here so the service layer needs no transport library.
 */
import { ListCursorError, PinnedLimitError, RequestIdReusedError, StoreDataError, StoreUnavailableError } from "../store/chat-store.js";

/** gRPC status codes (grpc/doc/statuscodes.md); the same numbers grpc-js's `status` uses. */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

export class ChatMemoryError extends Error {
  override readonly name = "ChatMemoryError";
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** A caller mistake in one field: the message starts with the field's path. */
  static invalidArgument(field: string, problem: string): ChatMemoryError {
    return new ChatMemoryError(Code.INVALID_ARGUMENT, `${field}: ${problem}`);
  }
}

/** Maps any failure to the error sent to the caller; unknown failures become a bare INTERNAL. */
export function toChatMemoryError(error: unknown): ChatMemoryError {
  if (error instanceof ChatMemoryError) return error;
  if (error instanceof StoreUnavailableError) {
    return new ChatMemoryError(Code.UNAVAILABLE, "the conversation store is unavailable; retry later", { cause: error });
  }
  if (error instanceof RequestIdReusedError) {
    return new ChatMemoryError(Code.INVALID_ARGUMENT, "request_id: already used for different messages in this conversation", {
      cause: error,
    });
  }
  if (error instanceof ListCursorError) {
    return new ChatMemoryError(Code.INVALID_ARGUMENT, `page_token: ${error.message}`, { cause: error });
  }
  if (error instanceof PinnedLimitError) {
    return new ChatMemoryError(Code.FAILED_PRECONDITION, `messages[${error.index}].pinned: ${error.message}`, { cause: error });
  }
  if (error instanceof StoreDataError) {
    return new ChatMemoryError(Code.FAILED_PRECONDITION, error.message, { cause: error });
  }
  return new ChatMemoryError(Code.INTERNAL, "internal error", { cause: error });
}
