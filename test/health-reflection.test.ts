/**
 * The standard health protocol and server reflection, checked with real
 * clients: the reflection answers must build a complete descriptor registry
 * (timestamp.proto import included, map entries intact), as grpcurl needs for
 * `describe`.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkHealth } from "./helpers/health-client.js";
import { type TestServer, startTestServer } from "./helpers/test-server.js";

const redisUrl = inject("redisUrl");
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ store: "redis", redisUrl });
});
afterAll(() => server.close());

describe("grpc.health.v1.Health", () => {
  it("reports SERVING for the server and the ChatMemory service while the store answers", async () => {
    expect(await checkHealth(server.address, "")).toEqual({ status: "SERVING" });
    expect(await checkHealth(server.address, "chatmemory.v1.ChatMemory")).toEqual({ status: "SERVING" });
  });

  it("answers NOT_FOUND for an unknown service name", async () => {
    expect(await checkHealth(server.address, "no.such.Service")).toEqual({ code: grpc.status.NOT_FOUND });
  });
});

type ReflectionResponse = {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
};

/** One request/response on the reflection stream of the given version (v1 or v1alpha). */
async function reflect(version: "v1" | "v1alpha", request: Record<string, string>): Promise<ReflectionResponse> {
  const require = createRequire(import.meta.url);
  const protoPath = join(dirname(require.resolve("@grpc/reflection/package.json")), "build/proto/grpc/reflection", version, "reflection.proto");
  const definition = protoLoader.loadSync(protoPath, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> };
  };
  const Client = loaded.grpc.reflection[version]?.ServerReflection;
  if (!Client) throw new Error(`no reflection ${version} client`);
  const client = new Client(server.address, grpc.credentials.createInsecure());
  try {
    const stream = (client.ServerReflectionInfo as unknown as () => grpc.ClientDuplexStream<unknown, ReflectionResponse>)();
    const response = new Promise<ReflectionResponse>((resolve, reject) => {
      stream.once("data", resolve);
      stream.once("error", reject);
    });
    stream.write({ host: "", ...request });
    const result = await response;
    stream.end();
    return result;
  } finally {
    client.close();
  }
}

describe.each(["v1", "v1alpha"] as const)("server reflection %s", (version) => {
  it("lists ChatMemory, health and reflection", async () => {
    const response = await reflect(version, { listServices: "" });
    const names = response.listServicesResponse?.service.map((s) => s.name) ?? [];
    expect(names.sort()).toEqual([
      "chatmemory.v1.ChatMemory",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("serves descriptors that build a complete registry, as a describing client does", async () => {
    const response = await reflect(version, { fileContainingSymbol: "chatmemory.v1.ChatMemory" });
    const files = (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    expect(files.map((file) => file.name).sort()).toEqual(["chatmemory/v1/chatmemory.proto", "google/protobuf/duration.proto", "google/protobuf/struct.proto", "google/protobuf/timestamp.proto"]);
    const main = files.find((file) => file.name === "chatmemory/v1/chatmemory.proto");
    expect(main?.dependency).toEqual(["google/protobuf/duration.proto", "google/protobuf/struct.proto", "google/protobuf/timestamp.proto"]);

    // createFileRegistry resolves every import by name and every type reference; it throws if anything is missing.
    const byName = new Map(files.map((file) => [file.name, file]));
    if (!main) throw new Error("chatmemory.proto not served");
    const registry = createFileRegistry(main, (name) => byName.get(name));
    const service = registry.getService("chatmemory.v1.ChatMemory");
    expect(service?.methods.map((m) => `${m.name}(${m.input.typeName}) -> ${m.methodKind === "server_streaming" ? "stream " : ""}${m.output.typeName}`)).toEqual([
      "Append(chatmemory.v1.AppendRequest) -> chatmemory.v1.AppendResponse",
      "GetHistory(chatmemory.v1.GetHistoryRequest) -> chatmemory.v1.GetHistoryResponse",
      "Clear(chatmemory.v1.ClearRequest) -> chatmemory.v1.ClearResponse",
      "Count(chatmemory.v1.CountRequest) -> chatmemory.v1.CountResponse",
      "Replace(chatmemory.v1.ReplaceRequest) -> chatmemory.v1.ReplaceResponse",
      "DeleteMessages(chatmemory.v1.DeleteMessagesRequest) -> chatmemory.v1.DeleteMessagesResponse",
      "ListConversations(chatmemory.v1.ListConversationsRequest) -> chatmemory.v1.ListConversationsResponse",
      "Watch(chatmemory.v1.WatchRequest) -> stream chatmemory.v1.WatchResponse",
    ]);
    const message = registry.getMessage("chatmemory.v1.Message");
    const fields = Object.fromEntries((message?.fields ?? []).map((f) => [f.name, [f.number, f.fieldKind]]));
    expect(fields).toEqual({
      role: [1, "scalar"],
      content: [2, "scalar"],
      name: [3, "scalar"],
      tool_call_id: [4, "scalar"],
      metadata: [5, "map"],
      created_at: [6, "message"],
      tool_calls: [7, "list"],
      seq: [8, "scalar"],
      id: [9, "scalar"],
      extra: [10, "message"],
      pinned: [11, "scalar"],
      token_count: [12, "scalar"],
    });
    expect(message?.field.createdAt?.message?.typeName).toBe("google.protobuf.Timestamp");
    expect(message?.field.extra?.message?.typeName).toBe("google.protobuf.Struct");
    // The map entry keeps its real name and map_entry option (proto-loader's re-derivation loses these).
    const entry = main.messageType.find((m) => m.name === "Message")?.nestedType[0];
    expect([entry?.name, entry?.options?.mapEntry]).toEqual(["MetadataEntry", true]);
  });

  it("serves the imported well-known file by name", async () => {
    const response = await reflect(version, { fileByFilename: "google/protobuf/timestamp.proto" });
    const [file] = (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    expect(file?.messageType.map((m) => m.name)).toEqual(["Timestamp"]);
  });
});

describe("reflection of the health service", () => {
  it("serves health.proto with its map entry intact (proto-loader's re-derived one breaks grpcurl)", async () => {
    const response = await reflect("v1", { fileContainingSymbol: "grpc.health.v1.Health" });
    const files = (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    const [health] = files;
    if (!health) throw new Error("health.proto not served");
    const registry = createFileRegistry(health, () => undefined);
    expect(registry.getService("grpc.health.v1.Health")?.methods.map((m) => m.name).sort()).toEqual(["Check", "List", "Watch"]);
    const statuses = registry.getMessage("grpc.health.v1.HealthListResponse")?.field.statuses;
    expect(statuses?.fieldKind).toBe("map");
  });
});
