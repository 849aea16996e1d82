import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { toBinary } from "@bufbuild/protobuf";
import { GetHistoryResponseSchema } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { createChatMemoryClient } from "../../clients/typescript/src/index.js";
import { type ServerProcess, startServerProcess } from "../../test/helpers/server-process.js";
import type { Bench, Target } from "../lib/bench.js";
import type { RoundScenario, RpcMeasurement, ThroughputRound } from "../lib/results.js";
import { FIXED_RESPONSE_SERVER, log, settings } from "../lib/settings.js";

/**
 * Bare grpc-js answering with GetHistory(40)'s exact response bytes (bench/fixed-response-server.ts):
 * how much of GetHistory's cost is the transport's for a response of that size.
 */
export async function startFixedResponseServer(bench: Bench, address: string, history40: Target): Promise<{ server: ServerProcess; target: Target }> {
  const client = createChatMemoryClient({ address });
  const responseFile = join(bench.workDir, "history-40-response.bin");
  try {
    // The whole response (messages, total_tokens, epoch): the bytes GetHistory(40) answers with.
    const response = await client.getHistory({ conversationId: "bench-history-40" });
    writeFileSync(responseFile, toBinary(GetHistoryResponseSchema, response));
  } finally {
    client.close();
  }
  const server = await startServerProcess({ BENCH_RESPONSE_FILE: responseFile }, [], { script: FIXED_RESPONSE_SERVER, echo: true, keepLogs: false });
  return { server, target: { path: "/bench.FixedResponse/Get", framePath: history40.framePath, responseBytes: history40.responseBytes } };
}

/**
 * The throughput targets compare rates measured minutes apart in the main table, and on a shared
 * machine the neighbours' load moves between them. So the top concurrency also gets three rounds
 * of ceiling, Append, GetHistory(40), and the bare grpc-js server's own ceiling and fixed
 * response, back to back; the report takes the medians of their ratios.
 */
export async function throughputRounds(
  bench: Bench,
  server: ServerProcess,
  targets: { ceiling: Target; append: Target; history40: Target },
  fixed: { server: ServerProcess; target: Target },
): Promise<void> {
  const concurrency = Math.max(...settings.concurrencies);
  const durationS = Math.max(2, settings.durationS / 2);
  const rounds: ThroughputRound[] = [];
  // Round 0 warms the bare server's JIT and heap up to the main server's (which has run every scenario); not reported.
  for (let pass = 0; pass <= 3; pass++) {
    const measured: Record<RoundScenario, RpcMeasurement> = {
      ceiling: await bench.measure(server, "redis", "ceiling", targets.ceiling, concurrency, undefined, { durationS }),
      append: await bench.measure(server, "redis", "append", targets.append, concurrency, undefined, { durationS }),
      history: await bench.measure(server, "redis", "history", targets.history40, concurrency, 40, { durationS }),
      bareCeiling: await bench.measure(fixed.server, "redis", "ceiling", targets.ceiling, concurrency, undefined, { durationS }),
      fixedResponse: await bench.measure(fixed.server, "redis", "fixed-response", fixed.target, concurrency, 40, { durationS }),
    };
    const each = (pick: (m: RpcMeasurement) => number) =>
      Object.fromEntries(Object.entries(measured).map(([scenario, m]) => [scenario, pick(m)])) as Record<RoundScenario, number>;
    const result: ThroughputRound = {
      concurrency,
      rps: each((m) => m.rps),
      cpuUs: each((m) => m.serverCpuUsPerRpc),
      verified: Object.values(measured).every((m) => m.verified),
    };
    const { rps, cpuUs } = result;
    log(
      `c=${concurrency} round ${pass}: Append ${(rps.append / rps.ceiling).toFixed(2)}, GetHistory(40) ${(rps.history / rps.ceiling).toFixed(2)} × ceiling; ` +
        `bare grpc-js with GetHistory(40)'s bytes ${(rps.fixedResponse / rps.bareCeiling).toFixed(2)} × its own ceiling; ` +
        `server CPU µs/call: ceiling ${cpuUs.ceiling}, Append ${cpuUs.append}, GetHistory(40) ${cpuUs.history}, bare ${cpuUs.bareCeiling} / ${cpuUs.fixedResponse}`,
    );
    if (pass > 0) rounds.push(result);
  }
  bench.results.throughputRounds = rounds;
}
