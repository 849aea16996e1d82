/** A call whose deadline has already passed when it arrives gets DEADLINE_EXCEEDED and stores nothing. */
import { connect } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { AppendRequestSchema } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { type TestServer, startTestServer, uniqueId } from "./helpers/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ store: "redis", redisUrl: inject("redisUrl") });
});
afterAll(() => server.close());

/** Sends one Append over raw HTTP/2 with a `grpc-timeout` header; resolves to the grpc-status trailer. */
function appendWithTimeout(conversationId: string, grpcTimeout: string): Promise<string> {
  const message = toBinary(AppendRequestSchema, create(AppendRequestSchema, { conversationId, messages: [{ role: "user", content: "late" }] }));
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  const session = connect(`http://${server.address}`);
  return new Promise<string>((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": "/chatmemory.v1.ChatMemory/Append",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": grpcTimeout,
    });
    stream.on("trailers", (trailers) => resolve(String(trailers["grpc-status"])));
    stream.on("response", (headers) => headers["grpc-status"] !== undefined && resolve(String(headers["grpc-status"])));
    stream.on("error", reject);
    stream.resume();
    stream.end(frame);
  }).finally(() => session.close());
}

it("answers DEADLINE_EXCEEDED (4) and stores nothing for a zero timeout", async () => {
  const id = uniqueId("expired");
  const statuses = await Promise.all(Array.from({ length: 20 }, () => appendWithTimeout(id, "0n")));
  expect(new Set(statuses)).toEqual(new Set(["4"]));
  expect((await server.client.count({ conversationId: id })).count).toBe(0n);
  // The same request with time to spare is stored: the check above is about the deadline, not the request.
  expect(await appendWithTimeout(id, "5S")).toBe("0");
  expect((await server.client.count({ conversationId: id })).count).toBe(1n);
});
