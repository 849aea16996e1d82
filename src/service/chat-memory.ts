/**
 * The ChatMemory RPCs: validate, call the store, shape the response.
 * No grpc-js here; transport concerns live in src/grpc.
 */
import type { Logger } from "pino";
import {
  type AppendRequest,
  AppendResponseSchema,
  type ChatMemory,
  GetHistoryResponseSchema,
  type Message,
  type ReplaceRequest,
  ReplaceResponseSchema,
  WatchResponseSchema,
} from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { ConversationWatches, type WatchCounters } from "./watch-hub.js";
import type { WatchStep } from "./watch-step.js";
import type { CallContext } from "./call-context.js";
import { ChatMemoryError, Code } from "./errors.js";
import { EncodedMessage, type ResponseStream, type ServiceImpl } from "./service-impl.js";
import { scopedConversationId, type TenantResolver } from "./tenancy.js";
import { type ChatStore, hasKeys, type JsonObject, type StoredMessage } from "../store/chat-store.js";
import { encodeHistoryResponse, toApiMessage } from "./history-response.js";
import { requestFingerprint, type WriteKind } from "./request-fingerprint.js";
import { elementsToRead, selectHistory } from "./history-selection.js";
import { encodeWriteResponse } from "./write-response.js";
import { listConversations } from "./list-conversations.js";
import { ReadTokenCounts, type TextTokenCounter, tokensForAppend, tokensForAppendNow } from "./token-budget.js";
import {
  DEFAULT_TOOL_TYPE,
  type RequestLimits,
  validateConversationId,
  validateDeleteRequest,
  validateHistoryQuery,
  validateWatchRequest,
  validateWriteRequest,
} from "./validate.js";

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
  /** Most messages held for one slow Watch reader before it gets a reset (default 1000). */
  watchBufferMessages?: number;
  /** Aborted when the server starts draining: Watch streams end with UNAVAILABLE. */
  drainSignal?: AbortSignal;
  /** Where Watch streams, messages, resets and overflows are counted (for metrics). */
  watchCounters?: WatchCounters;
}

function toStoredMessage(message: Message, createdAtMs: number, tokens: Record<string, number> | undefined): StoredMessage {
  const stored: StoredMessage = { role: message.role, content: message.content, createdAtMs, tokens };
  if (message.name) stored.name = message.name;
  if (message.toolCallId) stored.toolCallId = message.toolCallId;
  if (hasKeys(message.metadata)) stored.metadata = message.metadata;
  if (message.toolCalls.length > 0) {
    stored.toolCalls = message.toolCalls.map(({ id, type, name, arguments: args }) => ({ id, type: type || DEFAULT_TOOL_TYPE, name, arguments: args }));
  }
  if (message.id) stored.id = message.id;
  if (message.extra !== undefined && hasKeys(message.extra)) stored.extra = message.extra as JsonObject;
  return stored;
}

export function createChatMemoryService(options: ChatMemoryServiceOptions): ServiceImpl<typeof ChatMemory.method> {
  const { store, limits, logger } = options;
  const toolSafe = options.toolSafeWindow ?? true;
  const readTokens = new ReadTokenCounts(options.tokenCounter);
  const now = options.now ?? Date.now;
  const resolveTenant = options.resolveTenant ?? (() => undefined);
  // A step offered to many watchers at once is encoded once, before it is offered (prepare), so each watcher's write finds its bytes ready.
  const encodedSteps = new WeakMap<WatchStep, EncodedMessage<typeof WatchResponseSchema> | Promise<EncodedMessage<typeof WatchResponseSchema>>>();
  const watches = new ConversationWatches({
    store,
    bufferMessages: options.watchBufferMessages ?? 1000,
    drainSignal: options.drainSignal,
    counters: options.watchCounters,
    prepare: (step) => encodedStep(step),
  });
  /** A Watch step as WatchResponse bytes; token counts of elements without one are counted here. */
  async function encodeWatchStep(step: WatchStep): Promise<EncodedMessage<typeof WatchResponseSchema>> {
    const tokenCount = await readTokens.of(step.messages.map(({ message }) => message));
    const messages = step.messages.map(({ message, pinned }) => toApiMessage(message, pinned, tokenCount(message)));
    const bytes = toBinary(WatchResponseSchema, create(WatchResponseSchema, { messages, reset: step.reset, epoch: step.epoch }));
    // A Buffer view, made once: the transport takes a Buffer as it is, so each watcher's write makes none.
    return new EncodedMessage(WatchResponseSchema, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  function encodedStep(step: WatchStep): EncodedMessage<typeof WatchResponseSchema> | Promise<EncodedMessage<typeof WatchResponseSchema>> {
    const known = encodedSteps.get(step);
    if (known) return known;
    const encoding = encodeWatchStep(step).then((encoded) => {
      encodedSteps.set(step, encoded);
      return encoded;
    });
    encodedSteps.set(step, encoding);
    return encoding;
  }
  /** The step as one WatchResponse, written; at once when its encoding is ready (the usual case). False = wait for drained(). */
  function writeStep(stream: ResponseStream<typeof WatchResponseSchema>, step: WatchStep): boolean | Promise<boolean> {
    const encoded = encodedStep(step);
    return encoded instanceof EncodedMessage ? stream.write(encoded) : encoded.then((ready) => stream.write(ready));
  }
  // Steps offered together to many watchers, as one array of their encodings: the transport frames it once for all.
  const encodedGroups = new WeakMap<readonly WatchStep[], Promise<EncodedMessage<typeof WatchResponseSchema>[]> | EncodedMessage<typeof WatchResponseSchema>[]>();
  /** The steps as one WatchResponse each, written together (`writeAll`); as writeStep returns. */
  function writeSteps(writeAll: NonNullable<ResponseStream<typeof WatchResponseSchema>["writeAll"]>, steps: readonly WatchStep[]): boolean | Promise<boolean> {
    let group = encodedGroups.get(steps);
    if (group === undefined) {
      const encodings = steps.map(encodedStep);
      // Prepared before they were offered, so ready, but a step can be offered before its encoding is done.
      group = encodings.every((encoded) => encoded instanceof EncodedMessage) ? (encodings as EncodedMessage<typeof WatchResponseSchema>[]) : Promise.all(encodings);
      encodedGroups.set(steps, group);
    }
    return Array.isArray(group) ? writeAll(group) : group.then((ready) => writeAll(ready));
  }
  // Authentication comes first (UNAUTHENTICATED before INVALID_ARGUMENT), then the id is scoped to the tenant.
  const conversationOf = (request: { conversationId: string }, context: CallContext) =>
    scopedConversationId(resolveTenant(context), request.conversationId);
  /** Append and Replace: validate, count tokens, store with the request's pins, ttl and idempotency. */
  async function write<S extends typeof AppendResponseSchema | typeof ReplaceResponseSchema>(
    kind: WriteKind,
    request: AppendRequest | ReplaceRequest,
    context: CallContext,
    responseSchema: S,
  ) {
    const conversationId = conversationOf(request, context);
    const ttlMs = validateWriteRequest(request, limits);
    // One server timestamp for the whole batch: order is decided by Redis, not by clocks.
    const createdAtMs = now();
    const tokens = tokensForAppendNow(options.tokenCounter, request.messages) ?? (await tokensForAppend(options.tokenCounter, request.messages));
    const idempotency =
      request.requestId === "" ? undefined : { requestId: request.requestId, fingerprint: requestFingerprint(request.messages, ttlMs, kind) };
    const messages = request.messages.map((message, index) => toStoredMessage(message, createdAtMs, tokens[index]));
    const writeOptions = { idempotency, pinned: request.messages.map((message) => message.pinned), ttlMs };
    const { count, firstSeq, lastSeq } =
      kind === "append" ? await store.append(conversationId, messages, writeOptions) : await store.replace(conversationId, messages, writeOptions);
    return encodeWriteResponse(responseSchema, count, firstSeq, lastSeq);
  }

  return {
    append: (request, context) => write("append", request, context, AppendResponseSchema),

    replace: (request, context) => write("replace", request, context, ReplaceResponseSchema),

    async deleteMessages(request, context) {
      const conversationId = conversationOf(request, context);
      const seqs = validateDeleteRequest(request, limits);
      const { messages } = await store.deleteMessages(conversationId, seqs);
      const tokenCount = await readTokens.of(messages.map(({ message }) => message));
      return { messages: messages.map(({ message, pinned }) => toApiMessage(message, pinned, tokenCount(message))) };
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

    listConversations: (request, context) => listConversations(store, resolveTenant(context), request),

    async watch(request, context, stream) {
      const conversationId = conversationOf(request, context);
      const { afterSeq, epoch } = validateWatchRequest(request);
      const writeAll = stream.writeAll?.bind(stream);
      await watches.watch(conversationId, {
        afterSeq,
        epoch,
        signal: context.signal,
        write: (step) => writeStep(stream, step),
        writeAll: writeAll && ((steps) => writeSteps(writeAll, steps)),
        drained: () => stream.drained(),
      });
    },
  };
}
