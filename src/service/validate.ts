/**
 * Request validation: every rule of the contract, each failure an
 * INVALID_ARGUMENT whose message starts with the offending field's path.
 * Runs before the store is touched, so a rejected request changes nothing.
 */
import type { AppendRequest, Message } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { ChatMemoryError } from "./errors.js";

export interface RequestLimits {
  /** Most messages in one Append. */
  maxBatch: number;
  /** Most UTF-8 bytes in one message's content. */
  maxContentBytes: number;
}

export const CONVERSATION_ID_PATTERN = /^[A-Za-z0-9._:@/-]{1,256}$/;
export const ALLOWED_ROLES: ReadonlySet<string> = new Set(["user", "assistant", "system", "tool", "developer"]);

export function validateConversationId(conversationId: string): void {
  if (conversationId.length === 0) {
    throw ChatMemoryError.invalidArgument("conversation_id", "must not be empty");
  }
  if (conversationId.length > 256) {
    throw ChatMemoryError.invalidArgument("conversation_id", `must be at most 256 characters, got ${conversationId.length}`);
  }
  if (!CONVERSATION_ID_PATTERN.test(conversationId)) {
    throw ChatMemoryError.invalidArgument("conversation_id", "may contain only letters, digits and . _ : @ / -");
  }
}

function validateMessage(message: Message, index: number, limits: RequestLimits): void {
  const field = `messages[${index}]`;
  if (!ALLOWED_ROLES.has(message.role)) {
    const got = message.role === "" ? "it is empty" : `got ${JSON.stringify(message.role.slice(0, 32))}`;
    throw ChatMemoryError.invalidArgument(`${field}.role`, `must be one of ${[...ALLOWED_ROLES].join(", ")}; ${got}`);
  }
  // Cheap upper bound first: a UTF-8 encoding takes at most 3 bytes per UTF-16 unit.
  if (message.content.length * 3 > limits.maxContentBytes) {
    const bytes = Buffer.byteLength(message.content, "utf8");
    if (bytes > limits.maxContentBytes) {
      throw ChatMemoryError.invalidArgument(
        `${field}.content`,
        `must be at most ${limits.maxContentBytes} UTF-8 bytes, got ${bytes}`,
      );
    }
  }
}

/** Printable ASCII without spaces: UUIDs, ULIDs, base64 and the like. */
export const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

export function validateAppendRequest(request: AppendRequest, limits: RequestLimits): void {
  validateConversationId(request.conversationId);
  if (request.requestId !== "" && !REQUEST_ID_PATTERN.test(request.requestId)) {
    throw ChatMemoryError.invalidArgument("request_id", "must be empty or 1..128 printable ASCII characters without spaces");
  }
  if (request.messages.length === 0) {
    throw ChatMemoryError.invalidArgument("messages", "must hold at least one message");
  }
  if (request.messages.length > limits.maxBatch) {
    throw ChatMemoryError.invalidArgument(
      "messages",
      `must hold at most ${limits.maxBatch} messages, got ${request.messages.length}`,
    );
  }
  request.messages.forEach((message, index) => validateMessage(message, index, limits));
}

export function validateLimit(limit: number): void {
  if (limit < 0) throw ChatMemoryError.invalidArgument("limit", `must be 0 (whole window) or positive, got ${limit}`);
}
