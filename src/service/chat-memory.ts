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
import { elementsToRead, selectHistory } from "./history-selection.js";
import { ReadTokenCounts, type TextTokenCounter, tokensForAppend } from "./token-budget.js";
import { DEFAULT_TOOL_TYPE, type RequestLimits, validateAppendRequest, validateConversationId, validateHistoryQuery } from "./validate.js";

export interface ChatMemoryServiceOptions {
  store: ChatStore;
  limits: RequestLimits;
  logger: Logger;
  /** Who the caller is, when tenant scoping is on (src/service/tenancy.ts); default: no tenancy. */
  resolveTenant?: TenantResolver;
  /** Reads cut by `limit` drop the `tool` messages that would lead them (default true). */
  toolSafeWindow?: boolean;
  /** Counts tokens under the server's encoding (src/tokens/token-counter.ts). */
  tokenCounter: TextTokenCounter;
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
  const toolSafe = options.toolSafeWindow ?? true;
  const readTokens = new ReadTokenCounts(options.tokenCounter);
  const now = options.now ?? Date.now;
  const resolveTenant = options.resolveTenant ?? (() => undefined);
  // Authentication comes first (UNAUTHENTICATED before INVALID_ARGUMENT), then the id is scoped to the tenant.
  const conversationOf = (request: { conversationId: string }, context: CallContext) =>
    scopedConversationId(resolveTenant(context), request.conversationId);
  return {
    async append(request, context) {
      const conversationId = conversationOf(request, context);
      const ttlMs = validateAppendRequest(request, limits);
      // One server timestamp for the whole batch: order is decided by Redis, not by clocks.
      const createdAtMs = now();
      const tokens = await tokensForAppend(options.tokenCounter, request.messages);
      const idempotency =
        request.requestId === "" ? undefined : { requestId: request.requestId, fingerprint: requestFingerprint(request.messages, ttlMs) };
      const { count, firstSeq, lastSeq } = await store.append(
        conversationId,
        request.messages.map((message, index) => ({ ...toStoredMessage(message, createdAtMs), tokens: tokens[index] })),
        { idempotency, pinned: request.messages.map((message) => message.pinned), ttlMs },
      );
      return { count: BigInt(count), firstSeq: BigInt(firstSeq), lastSeq: BigInt(lastSeq) };
    },

    async getHistory(request, context) {
      const conversationId = conversationOf(request, context);
      const query = { ...validateHistoryQuery(request), toolSafe };
      const history = await store.getHistory(conversationId, elementsToRead(query));
      if (history.skippedCorrupt > 0) {
        logger.debug({ conversationId: request.conversationId, skippedCorrupt: history.skippedCorrupt }, "skipped corrupt stored elements");
      }
      const tokenCount = await readTokens.of(history.pinned.length === 0 ? history.messages : [...history.pinned, ...history.messages]);
      const response = selectHistory(history, query, tokenCount);
      // The store's shared window array is encoded once; a selection from it is encoded afresh.
      const sharing = history.sharing && { encodings: history.sharing.encodings, window: history.sharing.window && response.messages === history.messages };
      return new EncodedMessage(GetHistoryResponseSchema, encodeHistoryResponse(response, sharing));
    },

    async clear(request, context) {
      const conversationId = conversationOf(request, context);
      validateConversationId(request.conversationId);
      return { deleted: await store.clear(conversationId) };
    },

    async count(request, context) {
      const conversationId = conversationOf(request, context);
      validateConversationId(request.conversationId);
      const { count, pinned } = await store.count(conversationId);
      return { count: BigInt(count), pinned: BigInt(pinned) };
    },
  };
}
