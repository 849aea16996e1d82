/**
 * The TypeScript client grants the server a large HTTP/2 receive window, per stream (SETTINGS) and
 * per connection (WINDOW_UPDATE), instead of HTTP/2's 64 KiB that grpc-js keeps and never grows: a
 * busy Watch would otherwise wait for a WINDOW_UPDATE every 32 KiB. Checked from the other end of a
 * real connection: a node:http2 server reads what the client announced.
 */
import { once } from "node:events";
import { createServer, type Http2Server, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { type ChatMemoryClient, createChatMemoryClient, FLOW_CONTROL_WINDOW_BYTES } from "../clients/typescript/src/index.js";
import { statusOf } from "./helpers/test-server.js";

const HTTP2_DEFAULT_WINDOW = 65_535;

let server: Http2Server | undefined;
let client: ChatMemoryClient | undefined;

afterEach(async () => {
  client?.close();
  client = undefined;
  if (server) await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A peer that answers every call UNIMPLEMENTED and hands over its session with the client. */
async function peer(): Promise<{ address: string; session: Promise<ServerHttp2Session> }> {
  server = createServer();
  const session = once(server, "session").then(([value]) => {
    const serverSession = value as ServerHttp2Session;
    serverSession.on("error", () => {});
    return serverSession;
  });
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(status.UNIMPLEMENTED) }, { endStream: true });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, session };
}

/** The connection window the client granted, as the server sees it, once its WINDOW_UPDATE arrived (or 2 s passed). */
async function grantedConnectionWindow(session: ServerHttp2Session, atLeast: number): Promise<number> {
  const deadline = Date.now() + 2_000;
  while ((session.state.remoteWindowSize ?? 0) < atLeast && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return session.state.remoteWindowSize ?? 0;
}

describe("the TypeScript client's HTTP/2 receive window", () => {
  it("announces FLOW_CONTROL_WINDOW_BYTES per stream and grants it per connection", async () => {
    const { address, session } = await peer();
    client = createChatMemoryClient({ address });
    expect((await statusOf(client.count({ conversationId: "c" }))).code).toBe(status.UNIMPLEMENTED);
    const serverSession = await session;
    expect(FLOW_CONTROL_WINDOW_BYTES).toBeGreaterThan(HTTP2_DEFAULT_WINDOW);
    expect(serverSession.remoteSettings.initialWindowSize).toBe(FLOW_CONTROL_WINDOW_BYTES);
    expect(await grantedConnectionWindow(serverSession, FLOW_CONTROL_WINDOW_BYTES)).toBeGreaterThanOrEqual(FLOW_CONTROL_WINDOW_BYTES);
  });

  it("lets channelOptions choose another window", async () => {
    const { address, session } = await peer();
    client = createChatMemoryClient({ address, channelOptions: { "grpc-node.flow_control_window": HTTP2_DEFAULT_WINDOW } });
    expect((await statusOf(client.count({ conversationId: "c" }))).code).toBe(status.UNIMPLEMENTED);
    const serverSession = await session;
    expect(serverSession.remoteSettings.initialWindowSize).toBe(HTTP2_DEFAULT_WINDOW);
    expect(await grantedConnectionWindow(serverSession, HTTP2_DEFAULT_WINDOW)).toBeLessThan(FLOW_CONTROL_WINDOW_BYTES);
  });
});
