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

/** Append of one message to `bench-append-<store>`, filled first so every call trims. */
export async function appendTarget(bench: Bench, server: ServerProcess, store: StoreKind): Promise<Target> {
  const appendId = `bench-append-${store}`;
  await bench.fill(server.address, appendId, BENCH_MAX_TURNS * 2);
  return {
    path: "/chatmemory.v1.ChatMemory/Append",
    framePath: bench.frame(`append-${store}`, encodeFrame(AppendRequestSchema, { conversationId: appendId, messages: [{ role: "user", content: MESSAGE_CONTENT }] })),
    // The conversation is full, so every Append answers count = the window.
    responseBytes: responseFrameBytes(AppendResponseSchema, { count: BigInt(BENCH_MAX_TURNS * 2) }),
    ...(store === "redis" ? { redisCommand: "evalsha" } : {}),
  };
}

/** GetHistory of `bench-history-<window>`, filled with exactly `window` messages. */
export async function historyTarget(bench: Bench, server: ServerProcess, store: StoreKind, window: number): Promise<Target> {
  const id = `bench-history-${window}`;
  await bench.fill(server.address, id, window);
  return {
    path: "/chatmemory.v1.ChatMemory/GetHistory",
    framePath: bench.frame(`history-${store}-${window}`, encodeFrame(GetHistoryRequestSchema, { conversationId: id, limit: 0 })),
    responseBytes: await bench.historyResponseBytes(server.address, id),
    ...(store === "redis" ? { redisCommand: "lrange" } : {}),
  };
}

export async function targets(bench: Bench, server: ServerProcess, store: StoreKind, windows: number[]): Promise<Targets> {
  const ceiling = ceilingTarget(bench);
  const append = await appendTarget(bench, server, store);
  const history = new Map<number, Target>();
  for (const window of windows) history.set(window, await historyTarget(bench, server, store, window));
  return { ceiling, append, history };
}
