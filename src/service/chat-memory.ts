/**
 * The four ChatMemory RPCs: validate, call the store, shape the response.
 * No grpc-js here; transport concerns live in src/grpc.
 */
import type { Logger } from "pino";
import { type ChatMemory, GetHistoryResponseSchema, type Message } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import type { CallContext } from "./call-context.js";
import { EncodedMessage, type ServiceImpl } from "./service-impl.js";
import { scopedConversationId, type TenantResolver } from "./tenancy.js";
import type { ChatStore, JsonObject, StoredMessage } from "../store/chat-store.js";
import { encodeHistoryResponse } from "./history-response.js";
import { requestFingerprint } from "./request-fingerprint.js";
import { DEFAULT_TOOL_TYPE, type RequestLimits, validateAppendRequest, validateConversationId, validateLimit } from "./validate.js";

export interface ChatMemoryServiceOptions {
  store: ChatStore;
  limits: RequestLimits;
  logger: Logger;
  /** Who the caller is, when tenant scoping is on (src/service/tenancy.ts); default: no tenancy. */
  resolveTenant?: TenantResolver;
  /** Clock in epoch ms for `created_at`; tests may pass their own. */
  now?: () => number;
}

function toStoredMessage(message: Message, createdAtMs: number): StoredMessage {
  const stored: StoredMessage = { role: message.role, content: message.content, createdAtMs };
  if (message.name) stored.name = message.name;
  if (message.toolCallId) stored.toolCallId = message.toolCallId;
  if (Object.keys(message.metadata).length > 0) stored.metadata = message.metadata;
  if (message.toolCalls.length > 0) {
    stored.toolCalls = message.toolCalls.map(({ id, type, name, arguments: args }) => ({ id, type: type || DEFAULT_TOOL_TYPE, name, arguments: args }));
  }
  if (message.id) stored.id = message.id;
  if (message.extra !== undefined && Object.keys(message.extra).length > 0) stored.extra = message.extra as JsonObject;
  return stored;
}

export function createChatMemoryService(options: ChatMemoryServiceOptions): ServiceImpl<typeof ChatMemory.method> {
  const { store, limits, logger } = options;
  const now = options.now ?? Date.now;
  const resolveTenant = options.resolveTenant ?? (() => undefined);
  // Authentication comes first (UNAUTHENTICATED before INVALID_ARGUMENT), then the id is scoped to the tenant.
  const conversationOf = (request: { conversationId: string }, context: CallContext) =>
    scopedConversationId(resolveTenant(context), request.conversationId);
  return {
    async append(request, context) {
      const conversationId = conversationOf(request, context);
      validateAppendRequest(request, limits);
      // One server timestamp for the whole batch: order is decided by Redis, not by clocks.
      const createdAtMs = now();
      const idempotency =
        request.requestId === "" ? undefined : { requestId: request.requestId, fingerprint: requestFingerprint(request.messages) };
      const { count } = await store.append(
        conversationId,
        request.messages.map((message) => toStoredMessage(message, createdAtMs)),
        idempotency,
      );
      return { count: BigInt(count) };
    },

    async getHistory(request, context) {
      const conversationId = conversationOf(request, context);
      validateConversationId(request.conversationId);
      validateLimit(request.limit);
      const history = await store.getHistory(conversationId, request.limit);
      if (history.skippedCorrupt > 0) {
        logger.debug({ conversationId: request.conversationId, skippedCorrupt: history.skippedCorrupt }, "skipped corrupt stored elements");
      }
      return new EncodedMessage(GetHistoryResponseSchema, encodeHistoryResponse(history));
    },

    async clear(request, context) {
      const conversationId = conversationOf(request, context);
      validateConversationId(request.conversationId);
      return { deleted: await store.clear(conversationId) };
    },

    async count(request, context) {
      const conversationId = conversationOf(request, context);
      validateConversationId(request.conversationId);
      return { count: BigInt(await store.count(conversationId)) };
    },
  };
}
