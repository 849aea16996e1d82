/** The shape of bench/results/results.json: what one `npm run bench` measured. */
import type { BenchEnvironment } from "./environment.js";

export type StoreKind = "redis" | "memory";
/** "ceiling" is grpc.health.v1.Health/Check on the same server; "history" carries a window size. */
/**
 * history-uncached: GetHistory with the decoded-element cache off (CHATMEMORY_DECODE_CACHE_MB=0).
 * fixed-response: bare grpc-js answering with GetHistory's bytes (bench/fixed-response-server.ts).
 */
export type RpcKind = "ceiling" | "append" | "history" | "history-uncached" | "fixed-response";

export interface RpcMeasurement {
  store: StoreKind;
  rpc: RpcKind;
  /** Messages in the conversation GetHistory reads (whole window). */
  window?: number;
  concurrency: number;
  connections: number;
  streams: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUsPerRpc: number;
  /** Redis's CPU per RPC (0 for the memory store and the ceiling). */
  redisCpuUsPerRpc: number;
  generatorCpuUsPerRpc: number;
  serverRssMiB: number;
  /** DATA bytes of one response, gRPC prefix included. */
  responseFrameBytes: number;
  verified: boolean;
  verification: string;
}

export interface BaselineMeasurement {
  name: string;
  concurrency: number;
  calls: number;
  failures: number;
  rps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  generatorCpuUsPerCall: number;
  /** Server CPU per call, when a ChatMemory server is involved. */
  serverCpuUsPerCall?: number;
  redisCpuUsPerCall?: number;
  verified: boolean;
  verification: string;
}

export interface GhzMeasurement {
  name: string;
  concurrency: number;
  connections: number;
  count: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  statusCodes: Record<string, number>;
  verified: boolean;
}

/** One round of c=1 p50s measured back to back (Redis store), for the c=1 latency target. */
export interface LatencyTriplet {
  ceilingP50Ms: number;
  directP50Ms: number;
  appendP50Ms: number;
  verified: boolean;
}

/**
 * One round at the top concurrency (Redis store) of the ceiling, Append, GetHistory(40) and the bare
 * grpc-js server with GetHistory(40)'s bytes, back to back, for throughput ratios measured seconds
 * apart rather than minutes.
 */
/** What each back-to-back round measures; bare*: bench/fixed-response-server.ts (its own health check, and GetHistory(40)'s bytes). */
export type RoundScenario = "ceiling" | "append" | "history" | "bareCeiling" | "fixedResponse";

export interface ThroughputRound {
  concurrency: number;
  rps: Record<RoundScenario, number>;
  /** Server CPU µs per call: less moved by the neighbours than calls/s. */
  cpuUs: Record<RoundScenario, number>;
  verified: boolean;
}

export interface SoakSlice {
  atS: number;
  appendRps: number;
  appendP99Ms: number;
  historyRps: number;
  historyP99Ms: number;
  rssMiB: number;
  verified: boolean;
}

export interface MemoryPerMessage {
  messages: number;
  conversations: number;
  elementBytes: number;
  usedMemoryDeltaBytes: number;
  bytesPerMessage: number;
}

/** Watch latency in ms (a message's receive time − the Append's ack or send time, one machine clock). */
export interface WatchLatency {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  minMs: number;
  /** Messages received before their Append's answer reached the writer (receive − ack < 0). */
  negative: number;
}

/** What a set of watchers got, checked message by message: the counts a fan-out run and each load process report. */
export interface WatchDelivery {
  /** Messages every watcher should have got (acknowledged Appends of its conversation), summed. */
  expected: number;
  received: number;
  missing: number;
  gaps: number;
  duplicates: number;
  resets: number;
  streamErrors: number;
  /** Fewest and most messages one watcher got. */
  perWatcherMin: number;
  perWatcherMax: number;
}

/** One Watch fan-out run: watchers over conversations, open-loop Appends at a fixed rate (bench/scenarios/watch.ts). */
export interface WatchFanout extends WatchDelivery {
  name: string;
  watchers: number;
  conversations: number;
  ratePerS: number;
  seconds: number;
  appends: number;
  appendFailures: number;
  achievedRatePerS: number;
  appendRoundTrip: WatchLatency;
  fromAck: WatchLatency;
  fromSent: WatchLatency;
  /** Redis script calls (the Append's write, the watch hub's and watchers' reads) per Append. */
  redisScriptCallsPerAppend?: number;
  /** From the last Append's answer until the last message arrived (or 5 s without progress). */
  deliveredAfterLastAckS: number;
  /** The server's CPU over the run (Appends and deliveries until the last arrived), % of one core. */
  serverCpuPercent: number;
  /** The watcher processes' CPU over the same time, % of one core (summed). */
  watcherCpuPercent: number;
  /** Server CPU over the run ÷ messages delivered (NaN without watchers) and ÷ Appends. */
  serverCpuUsPerDelivery: number;
  serverCpuUsPerAppend?: number;
  /** With watchers spread over replicas: each replica's CPU over the run, % of one core (the first also serves the writer). */
  serverCpuPercentPerReplica?: number[];
  /** % of the run each process's main thread was runnable but waiting for a CPU (the neighbours' load). */
  runQueueWaitPercent?: { server: number; writer: number; watchers: number[] };
  loadavgBefore: number[];
  loadavgAfter: number[];
  verified: boolean;
}

export interface WatchMemory {
  watchers: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  kibPerWatcher: number;
  /** Growth from the previous step, per watcher added. */
  marginalKibPerWatcher: number;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  heapKibPerWatcher: number;
  loadavg: number[];
}

export interface WatchIdleAppendPair {
  pair: number;
  order: string;
  withoutRps: number;
  withRps: number;
  ratio: number;
  cpuUsWithout: number;
  cpuUsWith: number;
  loadavg: number[];
  verified: boolean;
}

export interface WatchResults {
  date: string;
  settings: Record<string, number | number[] | string>;
  fanout: WatchFanout[];
  memory: WatchMemory[];
  idleAppend: {
    watchers: number;
    concurrency: number;
    pairs: WatchIdleAppendPair[];
    medianRatio: number;
    ratioOfMedians: number;
    /** Median over pairs of server CPU per call without ÷ with (> 1: cheaper with watchers). */
    medianCpuRatio?: number;
  };
}

export interface BenchSettings {
  durationS: number;
  warmupS: number;
  baselineS: number;
  soakS: number;
  soakSliceS: number;
  concurrencies: number[];
  windows: number[];
  linearityWindows: number[];
  command: string;
}

export interface BenchResults {
  environment: BenchEnvironment;
  settings: BenchSettings;
  rpcs: RpcMeasurement[];
  baselines: BaselineMeasurement[];
  ghz: GhzMeasurement[];
  memory?: MemoryPerMessage;
  /** Rounds of c=1 ceiling, direct ioredis and Append p50, back to back (absent in older results). */
  latencyTriplets: LatencyTriplet[];
  /** Back-to-back throughput rounds at the top concurrency (absent in older results). */
  throughputRounds?: ThroughputRound[];
  /** Server RSS just before the soak's first slice. */
  soakStartRssMiB?: number;
  soak: SoakSlice[];
  /** Watch fan-out, memory per idle watcher, Append with idle watchers (absent in older results). */
  watch?: WatchResults;
}
