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

export interface WatchOptions {
  /** Stops watching when aborted: the iteration ends quietly. */
  signal?: AbortSignal;
  metadata?: grpc.Metadata;
  /**
   * How many times in a row a stream may fail to (re)open or end with UNAVAILABLE before the
   * iteration throws; default 30 (about 30 s of a server or its Redis being away).
   */
  resumeAttempts?: number;
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

/** The HTTP/2 receive window the client grants the server (see DEFAULT_CHANNEL_OPTIONS). */
export const FLOW_CONTROL_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * Channel options every client starts from (`channelOptions` overrides any of them):
 * - the retrying service config above, with retries enabled;
 * - keepalive: while calls are in flight, ping after 30 s without traffic and drop the
 *   connection when no answer comes within 10 s, so a dead peer fails the call (UNAVAILABLE,
 *   then retried on a new connection) instead of waiting for the deadline. The server allows
 *   pings every 10 s or slower; more frequent ones get the connection closed (too_many_pings);
 * - reconnect backoff 0.1 s growing to 1 s (grpc-js defaults: 1 s growing to 120 s), so after a
 *   replica restarts the channel is ready again within about a second and the retries above
 *   meet a live server (the fault suite's rolling-restart finding, docs/reliability.md);
 * - an HTTP/2 receive window of FLOW_CONTROL_WINDOW_BYTES per connection and per stream. grpc-js
 *   keeps HTTP/2's 64 KiB otherwise and, unlike grpc-go and gRPC C-core (Python), never grows it,
 *   so a busy Watch stalls the server until each WINDOW_UPDATE comes back (bench/notes.md,
 *   "Twelfth round"). What a stream buffers while its reader is paused stays within the window.
 */
export const DEFAULT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.service_config": JSON.stringify(DEFAULT_SERVICE_CONFIG),
  "grpc.enable_retries": 1,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 0,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
  "grpc-node.flow_control_window": FLOW_CONTROL_WINDOW_BYTES,
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
  watch: methodCodec(ChatMemory.method.watch),
};

/**
 * How a Watch stream may end that resuming can cure. Watching is read-only, so resuming is always
 * safe: UNAVAILABLE (a draining server, its Redis away), and what a proxy or a connection cut
 * mid-stream turns into: CANCELLED we did not ask for, INTERNAL or UNKNOWN for a reset HTTP/2
 * stream, DEADLINE_EXCEEDED from an intermediary's timeout (watch() sets no deadline itself).
 * Anything else (a bad request, no permission) would fail again.
 */
const RESUMABLE_WATCH_CODES: ReadonlySet<number> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.CANCELLED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.DEADLINE_EXCEEDED,
]);

/** Backoff before the n-th resume in a row: 0.1 s doubling to 1 s, with full jitter. */
function resumeDelayMs(attempt: number): number {
  return Math.random() * Math.min(100 * 2 ** (attempt - 1), 1000);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

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

  /**
   * Follows a conversation live: yields the server's WatchResponses (the messages after
   * `afterSeq` first, then each Append's new messages; `reset: true` = replace everything you
   * hold with `messages`). When a stream breaks (UNAVAILABLE from a server draining or restarting
   * or its Redis away, a connection or proxy cutting it) it resumes by itself from the last seq
   * and epoch it yielded, so the sequence stays exact across reconnects. Ends when `signal`
   * aborts or the loop breaks; throws other errors (INVALID_ARGUMENT, UNAUTHENTICATED, ...) at
   * once, and the last error after `resumeAttempts` failures in a row.
   *
   *   for await (const step of client.watch({ conversationId: "c1" })) render(step);
   */
  async *watch(request: Request<typeof ChatMemory.method.watch>, options: WatchOptions = {}): AsyncGenerator<Response<typeof ChatMemory.method.watch>> {
    let afterSeq = BigInt(request.afterSeq ?? 0);
    let epoch = request.epoch ?? "";
    const attempts = options.resumeAttempts ?? 30;
    let failures = 0;
    for (;;) {
      try {
        for await (const response of this.watchStream({ conversationId: request.conversationId, afterSeq, epoch }, options)) {
          failures = 0;
          epoch = response.epoch;
          if (response.reset) afterSeq = 0n;
          for (const message of response.messages) if (message.seq > afterSeq) afterSeq = message.seq;
          yield response;
        }
        return;
      } catch (error: unknown) {
        if (options.signal?.aborted) return;
        const code = (error as Partial<ChatMemoryCallError>).code;
        if (code === undefined || !RESUMABLE_WATCH_CODES.has(code) || ++failures > attempts) throw error;
        await sleep(resumeDelayMs(failures), options.signal);
        if (options.signal?.aborted) return;
      }
    }
  }

  /** One Watch stream as the server sends it, without resuming: errors (UNAVAILABLE on drain) are thrown. */
  async *watchStream(request: Request<typeof ChatMemory.method.watch>, options: Omit<WatchOptions, "resumeAttempts"> = {}): AsyncGenerator<Response<typeof ChatMemory.method.watch>> {
    const codec = CODECS.watch;
    const call = this.#client.makeServerStreamRequest(codec.path, codec.serializeRequest, codec.deserializeResponse, request, this.#metadata(options.metadata), {
      deadline: Infinity,
    });
    const cancel = () => call.cancel();
    options.signal?.addEventListener("abort", cancel, { once: true });
    try {
      for await (const response of call) yield response as Response<typeof ChatMemory.method.watch>;
    } catch (error: unknown) {
      if (options.signal?.aborted) return;
      throw error;
    } finally {
      options.signal?.removeEventListener("abort", cancel);
      call.cancel();
    }
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

  /** The caller's metadata (copied) with the client's authorization. */
  #metadata(given: grpc.Metadata | undefined): grpc.Metadata {
    const metadata = given?.clone() ?? new grpc.Metadata();
    if (this.#authorization !== undefined) metadata.set("authorization", this.#authorization);
    return metadata;
  }

  #unary<I extends DescMessage, O extends DescMessage>(
    codec: MethodCodec<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): Promise<MessageShape<O>> {
    const deadline = Date.now() + (options.deadlineMs ?? this.#defaultDeadlineMs);
    const metadata = this.#metadata(options.metadata);
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
