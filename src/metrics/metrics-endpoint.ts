/**
 * GET /metrics in Prometheus's text format, on its own HTTP port: scrapers
 * speak HTTP/1.1, not gRPC, and it keeps metrics off the service's TLS port.
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { parseHostPort } from "../host-port.js";

export interface MetricsEndpoint {
  /** The bound port (0 in the address picks a free one). */
  port: number;
  close(): Promise<void>;
}

export async function serveMetrics(registry: Registry, address: string): Promise<MetricsEndpoint> {
  const { host, port } = parseHostPort(address, { allowPortZero: true });
  const server: Server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`),
    );
  });
  // No keep-alive sockets may hold shutdown open.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
