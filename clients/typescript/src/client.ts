/**
 * The TypeScript client for ChatMemory: a typed Promise API over the generated
 * protobuf-es types and grpc-js, with a default deadline on every call and
 * retries of UNAVAILABLE through gRPC's standard service config.
 *
 *   import { createChatMemoryClient } from "chatmemory-client";
 *   const client = createChatMemoryClient({ address: "127.0.0.1:50051" });
 *   await client.append({ conversationId: "c1", messages: [{ role: "user", content: "hi" }] });
 */
import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type DescMethod, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { ChatMemory } from "../../../gen/ts/chatmemory/v1/chatmemory_pb.js";

export interface ChatMemoryClientOptions {
  /** host:port of the server. */
  address: string;
  /** Defaults to insecure (plaintext), as on a mesh with sidecar mTLS. */
  credentials?: grpc.ChannelCredentials;
  /** Deadline for each call unless the call sets its own; default 5000 ms. */
  defaultDeadlineMs?: number;
  /**
   * grpc-js channel options, merged over DEFAULT_CHANNEL_OPTIONS (retry service config,
   * keepalive): e.g. `{ "grpc.enable_retries": 0 }` turns retries off.
   */
  channelOptions?: grpc.ChannelOptions;
  /** Tenant token for servers with CHATMEMORY_AUTH=token: sent as `authorization: Bearer <token>`. */
  bearerToken?: string;
}

export interface CallOptions {
  /** Overrides the client's default deadline for this call. */
  deadlineMs?: number;
  metadata?: grpc.Metadata;
  /** Cancels the call (CANCELLED) when aborted. */
  signal?: AbortSignal;
}

/** A failed call: grpc-js's ServiceError, with `code` a grpc `status` and `details` the server's message. */
export type ChatMemoryCallError = grpc.ServiceError;

const DEFAULT_DEADLINE_MS = 5000;

/**
 * Retry UNAVAILABLE (Redis unreachable, a replica draining or restarting) up to 4 attempts with
 * jittered exponential backoff (0.1 s, then up to 1 s), done by grpc-js itself: the standard
 * retryPolicy, so every gRPC language reads the same policy and no hand-written loop is needed.
 * Attempts share the call's deadline. Other codes are never retried: INVALID_ARGUMENT and the
 * like would fail again, and DEADLINE_EXCEEDED means the caller's time is up.
 *
 * Retries resend the same request: give an Append a `requestId` (e.g. a UUID per logical
 * append) and a retry of it stores nothing new. Without one, a retried Append may store its
 * messages twice (the first attempt can fail after Redis ran it).
 */
export const DEFAULT_SERVICE_CONFIG = {
  methodConfig: [
    {
      name: [{ service: ChatMemory.typeName }],
      retryPolicy: {
        maxAttempts: 4,
        initialBackoff: "0.1s",
        maxBackoff: "1s",
        backoffMultiplier: 2,
        retryableStatusCodes: ["UNAVAILABLE"],
      },
    },
  ],
} as const;

/**
 * Channel options every client starts from (`channelOptions` overrides any of them):
 * - the retrying service config above, with retries enabled;
 * - keepalive: while calls are in flight, ping after 30 s without traffic and drop the
 *   connection when no answer comes within 10 s, so a dead peer fails the call (UNAVAILABLE,
 *   then retried on a new connection) instead of waiting for the deadline. The server allows
 *   pings every 10 s or slower; more frequent ones get the connection closed (too_many_pings);
 * - reconnect backoff 0.1 s growing to 1 s (grpc-js defaults: 1 s growing to 120 s), so after a
 *   replica restarts the channel is ready again within about a second and the retries above
 *   meet a live server (the fault suite's rolling-restart finding, docs/reliability.md).
 */
export const DEFAULT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.service_config": JSON.stringify(DEFAULT_SERVICE_CONFIG),
  "grpc.enable_retries": 1,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 0,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
};

/** What the client needs to call one method: its path and the binary codecs of its request and response. */
interface MethodCodec<I extends DescMessage, O extends DescMessage> {
  path: string;
  serializeRequest: (value: MessageInitShape<I>) => Buffer;
  deserializeResponse: (bytes: Buffer) => MessageShape<O>;
}

function methodCodec<I extends DescMessage, O extends DescMessage>(method: DescMethod & { input: I; output: O }): MethodCodec<I, O> {
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    serializeRequest: (value) => {
      const bytes = toBinary(method.input, create(method.input, value));
      // The encoded bytes as a Buffer, without a copy.
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    deserializeResponse: (bytes) => fromBinary(method.output, bytes),
  };
}

const CODECS = {
  append: methodCodec(ChatMemory.method.append),
  getHistory: methodCodec(ChatMemory.method.getHistory),
  clear: methodCodec(ChatMemory.method.clear),
  count: methodCodec(ChatMemory.method.count),
  replace: methodCodec(ChatMemory.method.replace),
  deleteMessages: methodCodec(ChatMemory.method.deleteMessages),
  listConversations: methodCodec(ChatMemory.method.listConversations),
};

type Method = (typeof ChatMemory.method)[keyof typeof ChatMemory.method];
type Request<M extends Method> = MessageInitShape<M["input"]>;
type Response<M extends Method> = MessageShape<M["output"]>;

export class ChatMemoryClient {
  readonly #client: grpc.Client;
  readonly #defaultDeadlineMs: number;
  readonly #authorization: string | undefined;

  constructor(options: ChatMemoryClientOptions) {
    this.#client = new grpc.Client(
      options.address,
      options.credentials ?? grpc.credentials.createInsecure(),
      { ...DEFAULT_CHANNEL_OPTIONS, ...options.channelOptions },
    );
    this.#defaultDeadlineMs = options.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
    this.#authorization = options.bearerToken === undefined ? undefined : `Bearer ${options.bearerToken}`;
  }

  /** Appends messages atomically and in order; resolves to the conversation's count after the trim. */
  append(request: Request<typeof ChatMemory.method.append>, options?: CallOptions): Promise<Response<typeof ChatMemory.method.append>> {
    return this.#unary(CODECS.append, request, options);
  }

  /** Reads the window oldest first (`limit` > 0: only the newest `limit`). */
  getHistory(
    request: Request<typeof ChatMemory.method.getHistory>,
    options?: CallOptions,
  ): Promise<Response<typeof ChatMemory.method.getHistory>> {
    return this.#unary(CODECS.getHistory, request, options);
  }

  /** Deletes the conversation; `deleted` says whether anything was stored. */
  clear(request: Request<typeof ChatMemory.method.clear>, options?: CallOptions): Promise<Response<typeof ChatMemory.method.clear>> {
    return this.#unary(CODECS.clear, request, options);
  }

  /** Number of stored elements. */
  count(request: Request<typeof ChatMemory.method.count>, options?: CallOptions): Promise<Response<typeof ChatMemory.method.count>> {
    return this.#unary(CODECS.count, request, options);
  }

  /**
   * Swaps the conversation's pinned messages and window for `messages`, atomically (seqs continue,
   * the epoch changes); give it a `requestId` to make retries safe, as for append.
   */
  replace(request: Request<typeof ChatMemory.method.replace>, options?: CallOptions): Promise<Response<typeof ChatMemory.method.replace>> {
    return this.#unary(CODECS.replace, request, options);
  }

  /** Deletes messages by seq, atomically; resolves to the deleted ones. Deleting again deletes nothing. */
  deleteMessages(
    request: Request<typeof ChatMemory.method.deleteMessages>,
    options?: CallOptions,
  ): Promise<Response<typeof ChatMemory.method.deleteMessages>> {
    return this.#unary(CODECS.deleteMessages, request, options);
  }

  /** One page of the caller's conversations; pass `nextPageToken` back as `pageToken` for the next. */
  listConversations(
    request: Request<typeof ChatMemory.method.listConversations>,
    options?: CallOptions,
  ): Promise<Response<typeof ChatMemory.method.listConversations>> {
    return this.#unary(CODECS.listConversations, request, options);
  }

  /**
   * Every conversation of the caller, page after page (`pageSize` per call, 0 = the server's
   * default); each call gets `options`' deadline of its own.
   */
  async *allConversations(
    pageSize = 0,
    options?: CallOptions,
  ): AsyncGenerator<Response<typeof ChatMemory.method.listConversations>["conversations"][number]> {
    let pageToken = "";
    do {
      const page = await this.listConversations({ pageSize, pageToken }, options);
      yield* page.conversations;
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
  }

  /** Resolves once connected, or rejects after `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#client.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(error) : resolve())),
    );
  }

  close(): void {
    this.#client.close();
  }

  #unary<I extends DescMessage, O extends DescMessage>(
    codec: MethodCodec<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): Promise<MessageShape<O>> {
    const deadline = Date.now() + (options.deadlineMs ?? this.#defaultDeadlineMs);
    const metadata = options.metadata?.clone() ?? new grpc.Metadata();
    if (this.#authorization !== undefined) metadata.set("authorization", this.#authorization);
    return new Promise((resolve, reject) => {
      const call = this.#client.makeUnaryRequest(
        codec.path,
        codec.serializeRequest,
        codec.deserializeResponse,
        request,
        metadata,
        { deadline },
        (error, response) => (error || !response ? reject(error) : resolve(response)),
      );
      options.signal?.addEventListener("abort", () => call.cancel(), { once: true });
    });
  }
}

export function createChatMemoryClient(options: ChatMemoryClientOptions): ChatMemoryClient {
  return new ChatMemoryClient(options);
}
