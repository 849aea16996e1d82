/**
 * An OTLP/HTTP receiver that accepts every export and keeps nothing: the collector stand-in for
 * the tracing A/B (AB_SET=tracing), so the server's exporter does all its work (batching,
 * protobuf encoding, HTTP) and gets the success answer a real collector sends (200 with an empty
 * ExportTraceServiceResponse). Counts what arrived, to show tracing was on.
 */
import { createServer, type Server } from "node:http";

export interface OtlpSink {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT (http/protobuf: the exporter appends /v1/traces). */
  endpoint: string;
  readonly requests: number;
  readonly bytes: number;
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  let requests = 0;
  let bytes = 0;
  const server: Server = createServer((request, response) => {
    request.on("data", (chunk: Buffer) => (bytes += chunk.length));
    request.on("end", () => {
      requests++;
      response.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get bytes() {
      return bytes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
