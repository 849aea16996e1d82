/**
 * `node dist/src/healthcheck.js [host:port]`: asks the server's own
 * grpc.health.v1 service whether ChatMemory is SERVING, for a container
 * HEALTHCHECK. Exit 0 = SERVING, 1 = anything else (NOT_SERVING, no answer).
 *
 * Where, from the server's own settings: CHATMEMORY_HEALTH_LISTEN's port
 * (plaintext, health only) when set, else CHATMEMORY_LISTEN's, on 127.0.0.1.
 * With server TLS on the main port the check speaks TLS without verifying the
 * certificate: it is the container asking itself over loopback, and the
 * certificate may name no IP. With mTLS it would need a client certificate:
 * set CHATMEMORY_HEALTH_LISTEN instead.
 */
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ChatMemory } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../gen/ts/health/v1/health_pb.js";
import { parseHostPort } from "./host-port.js";

const DEADLINE_MS = 2000;

const portOf = (listen: string) => parseHostPort(listen, { allowPortZero: true }).port;
const isSet = (name: string) => (process.env[name] ?? "").trim() !== "";

interface Target {
  address: string;
  credentials: grpc.ChannelCredentials;
}

function healthTarget(): Target | string {
  const insecure = grpc.credentials.createInsecure();
  const explicit = process.argv[2];
  if (explicit) return { address: explicit, credentials: insecure };
  if (isSet("CHATMEMORY_HEALTH_LISTEN")) {
    return { address: `127.0.0.1:${portOf(process.env.CHATMEMORY_HEALTH_LISTEN ?? "")}`, credentials: insecure };
  }
  const address = `127.0.0.1:${portOf(process.env.CHATMEMORY_LISTEN ?? "127.0.0.1:50051")}`;
  if (isSet("CHATMEMORY_TLS_CLIENT_CA")) {
    return "mTLS is on and the check has no client certificate: set CHATMEMORY_HEALTH_LISTEN (e.g. 127.0.0.1:50052) for it";
  }
  if (isSet("CHATMEMORY_TLS_CERT")) return { address, credentials: grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false }) };
  return { address, credentials: insecure };
}

const target = healthTarget();
if (typeof target === "string") {
  process.stdout.write(`${ChatMemory.typeName}: ${target}\n`);
  process.exit(1);
}
const { address } = target;
const client = new grpc.Client(address, target.credentials);
client.makeUnaryRequest(
  `/${Health.typeName}/${Health.method.check.name}`,
  (request: { service: string }) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, request))),
  (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes),
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
