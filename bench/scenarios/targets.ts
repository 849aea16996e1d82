/**
 * The RPCs the h2load scenarios send, each with its expected response size and Redis command:
 * the ceiling (grpc.health.v1.Health/Check on the same server), Append to a full conversation,
 * and GetHistory of whole windows of several sizes.
 */
import {
  AppendRequestSchema,
  AppendResponseSchema,
  GetHistoryRequestSchema,
} from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../gen/ts/health/v1/health_pb.js";
import { createChatMemoryClient } from "../../clients/typescript/src/index.js";
import type { ServerProcess } from "../../test/helpers/server-process.js";
import type { Bench, Target } from "../lib/bench.js";
import { encodeFrame, responseFrameBytes } from "../lib/frames.js";
import type { StoreKind } from "../lib/results.js";
import { BENCH_MAX_TURNS, MESSAGE_CONTENT } from "../lib/workload.js";

export interface Targets {
  ceiling: Target;
  append: Target;
  /** GetHistory by window size. */
  history: Map<number, Target>;
}

export function ceilingTarget(bench: Bench): Target {
  return {
    path: "/grpc.health.v1.Health/Check",
    framePath: bench.frame("health", encodeFrame(HealthCheckRequestSchema, { service: "" })),
    responseBytes: responseFrameBytes(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }),
  };
}

/** Per-target choices beyond the defaults: another conversation id, message text, or read. */
export interface TargetOptions {
  /** Conversation id (default `bench-append-<store>` / `bench-history-<window>`). */
  id?: string;
  /** Each message's content (default MESSAGE_CONTENT, 200 × "x"). */
  content?: string;
}

/** The frame size of AppendResponse { count, first_seq = last_seq = seq } for each seq in (from, to]. */
function appendResponsesBytes(count: number, from: bigint, to: bigint): number {
  let total = 0;
  // A varint's size changes only at powers of 128: sum range by range.
  let low = from + 1n;
  while (low <= to) {
    let limit = 128n;
    while (limit <= low) limit *= 128n;
    const high = to < limit - 1n ? to : limit - 1n;
    total += Number(high - low + 1n) * responseFrameBytes(AppendResponseSchema, { count: BigInt(count), firstSeq: low, lastSeq: low });
    low = high + 1n;
  }
  return total;
}

/**
 * Append of one message to `bench-append-<store>`, filled first so every call trims. Builds with
 * seqs (issue 12) answer with the call's seq, so the expected bytes follow the conversation's
 * last seq, read just before the run; builds without answer with the count alone.
 */
export async function appendTarget(bench: Bench, server: ServerProcess, store: StoreKind, options: TargetOptions = {}): Promise<Target> {
  const appendId = options.id ?? `bench-append-${store}`;
  const content = options.content ?? MESSAGE_CONTENT;
  const window = BENCH_MAX_TURNS * 2;
  await bench.fill(server.address, appendId, window, content);
  const lastSeq = async (): Promise<bigint> => {
    const { response } = await bench.historyResponse(server.address, appendId, { limit: 1 });
    return response.messages.at(-1)?.seq ?? 0n;
  };
  const countOnly = responseFrameBytes(AppendResponseSchema, { count: BigInt(window) });
  let redisCommand: string | undefined;
  if (store === "redis") {
    const client = createChatMemoryClient({ address: server.address });
    try {
      redisCommand = await bench.probeRedisCommand(() => client.append({ conversationId: appendId, messages: [{ role: "user", content }] }));
    } finally {
      client.close();
    }
  }
  return {
    path: "/chatmemory.v1.ChatMemory/Append",
    framePath: bench.frame(`append-${store}-${appendId}`, encodeFrame(AppendRequestSchema, { conversationId: appendId, messages: [{ role: "user", content }] })),
    // The conversation is full, so every Append answers count = the window.
    responseBytes: countOnly,
    expectedBytes: async () => {
      const from = await lastSeq();
      return from === 0n ? (n) => n * countOnly : (n) => appendResponsesBytes(window, from, from + BigInt(n));
    },
    ...(redisCommand ? { redisCommand } : {}),
  };
}

/**
 * GetHistory of `bench-history-<window>`, filled with exactly `window` messages. `query` is sent
 * as it is (default: limit 0, the whole window); the expected response is what the server
 * answers to it once, encoded whole.
 */
export async function historyTarget(
  bench: Bench,
  server: ServerProcess,
  store: StoreKind,
  window: number,
  options: TargetOptions & { query?: { limit?: number; maxTokens?: number }; filled?: boolean } = {},
): Promise<Target & { messages: number }> {
  const id = options.id ?? `bench-history-${window}`;
  if (!options.filled) await bench.fill(server.address, id, window, options.content ?? MESSAGE_CONTENT);
  const query = options.query ?? { limit: 0 };
  const { bytes, response } = await bench.historyResponse(server.address, id, query);
  const redisCommand = store === "redis" ? await bench.probeRedisCommand(() => bench.historyResponse(server.address, id, query)) : undefined;
  const name = `history-${store}-${id}-${query.limit ?? 0}-${query.maxTokens ?? 0}`;
  return {
    path: "/chatmemory.v1.ChatMemory/GetHistory",
    framePath: bench.frame(name, encodeFrame(GetHistoryRequestSchema, { conversationId: id, ...query })),
    responseBytes: bytes,
    messages: response.messages.length,
    ...(redisCommand ? { redisCommand } : {}),
  };
}

export async function targets(bench: Bench, server: ServerProcess, store: StoreKind, windows: number[]): Promise<Targets> {
  const ceiling = ceilingTarget(bench);
  const append = await appendTarget(bench, server, store);
  const history = new Map<number, Target>();
  for (const window of windows) history.set(window, await historyTarget(bench, server, store, window));
  return { ceiling, append, history };
}
