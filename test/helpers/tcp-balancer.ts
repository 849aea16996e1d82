/**
 * A layer-4 load balancer on loopback, as a Kubernetes ClusterIP Service or a cloud TCP balancer
 * is: each new TCP connection goes to the next backend in turn, and stays there. An HTTP/2
 * client multiplexes every call over one connection, so it is pinned to one backend until that
 * connection closes: what the server's max connection age is for.
 */
import { type Server, type Socket, connect, createServer } from "node:net";

export interface TcpBalancer {
  /** 127.0.0.1:port to give clients. */
  readonly address: string;
  /** The backend port each accepted connection went to, in order. */
  readonly connections: readonly number[];
  /** Backends (loopback ports) that new connections are spread over; takes effect for the next connection. */
  setBackends(ports: readonly number[]): void;
  /** Cuts every open connection, as a crashed proxy or a network blip does; new ones are accepted. */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startTcpBalancer(backends: readonly number[]): Promise<TcpBalancer> {
  let ports = [...backends];
  let next = 0;
  const connections: number[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const port = ports[next++ % ports.length];
    if (port === undefined) {
      client.destroy();
      return;
    }
    connections.push(port);
    const upstream = connect(port, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      // A reset on one side closes the other; the error itself is expected when a backend stops.
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    address: `127.0.0.1:${port}`,
    connections,
    setBackends(newPorts) {
      ports = [...newPorts];
    },
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
