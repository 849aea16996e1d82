/**
 * `node dist/src/healthcheck.js [host:port]`: asks the server's own
 * grpc.health.v1 service whether ChatMemory is SERVING, for a container
 * HEALTHCHECK. Exit 0 = SERVING, 1 = anything else (NOT_SERVING, no answer).
 * The address defaults to CHATMEMORY_LISTEN's port on 127.0.0.1.
 */
import * as grpc from "@grpc/grpc-js";
import { ChatMemory } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/ts/health/v1/health_pb.js";
import { methodCodec } from "./grpc/adapter.js";

const DEADLINE_MS = 2000;

function targetAddress(): string {
  const explicit = process.argv[2];
  if (explicit) return explicit;
  const listen = process.env.CHATMEMORY_LISTEN ?? "127.0.0.1:50051";
  return `127.0.0.1:${listen.slice(listen.lastIndexOf(":") + 1)}`;
}

const address = targetAddress();
const client = new grpc.Client(address, grpc.credentials.createInsecure());
const check = methodCodec(Health.method.check);
client.makeUnaryRequest(
  check.path,
  check.serializeRequest,
  check.deserializeResponse,
  { service: ChatMemory.typeName },
  new grpc.Metadata(),
  { deadline: Date.now() + DEADLINE_MS },
  (error, response) => {
    client.close();
    const serving = !error && response?.status === HealthCheckResponse_ServingStatus.SERVING;
    const detail = error ? error.message : HealthCheckResponse_ServingStatus[response?.status ?? 0];
    process.stdout.write(`${ChatMemory.typeName} at ${address}: ${serving ? "SERVING" : detail}\n`);
    process.exitCode = serving ? 0 : 1;
  },
);
