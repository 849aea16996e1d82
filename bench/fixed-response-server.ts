/**
 * grpc-js with nothing behind it: the product's server options, one unary
 * method (/bench.FixedResponse/Get) that answers every call with the same
 * pre-encoded bytes (BENCH_RESPONSE_FILE), and no decoding, store or encoding.
 * Given GetHistory(40)'s response, it shows what grpc-js and Node's HTTP/2
 * alone cost for a response of that size: the most any GetHistory(40) could
 * do on this stack. It also serves the same health service as the product, so
 * its own ceiling is measured in the same process. Started by bench/run.ts
 * like the real server (same startup line, SIGTERM to stop).
 */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { SERVER_CHANNEL_OPTIONS } from "../src/server.js";

const responseFile = process.env.BENCH_RESPONSE_FILE;
if (!responseFile) throw new Error("BENCH_RESPONSE_FILE must name the response bytes");
const response = readFileSync(responseFile);
const bytes = (value: Buffer) => value;

const server = new grpc.Server(SERVER_CHANNEL_OPTIONS);
server.addService(
  {
    get: { path: "/bench.FixedResponse/Get", requestStream: false, responseStream: false, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes },
  },
  { get: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, response) },
);
new HealthImplementation({ "": "SERVING" }).addToServer(server);
server.bindAsync(process.env.CHATMEMORY_LISTEN ?? "127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${JSON.stringify({ level: 30, msg: "chatmemory listening (fixed-response bench server)", address: `127.0.0.1:${port}` })}\n`);
});
process.once("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
