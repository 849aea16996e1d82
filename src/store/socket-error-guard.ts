/**
 * Keeps a second error on a Redis socket from ending the process.
 *
 * ioredis listens for its socket's errors with `once`: the first error reaches
 * it, and it closes the socket and reconnects. A Node TLS socket can emit more
 * than one, and an `error` event nobody listens to is an uncaught exception.
 * Seen in CI with a Redis whose certificate is not trusted: "self-signed
 * certificate in certificate chain" (handled), then the server's answer
 * "tlsv1 alert decode error" on the same socket (uncaught, process gone).
 * A lasting listener drops such later errors: ioredis has already acted on the
 * first, and the socket is on its way out.
 *
 * Upstream: https://github.com/redis/ioredis/pull/961 and its follow-up #962
 * ("Bugfix for ssl handshake + socket hangup errors") change that `once` to
 * `on`; #962 was closed as wontfix, #961 is still open. In ioredis 6.0.0
 * the listener is still `stream.once("error", eventHandler.errorHandler(this))`
 * in `Redis.connect()` (lib/Redis.ts; built/Redis.js in the package).
 */
import type { AbstractConnector, Redis, StandaloneConnectionOptions } from "ioredis";
import { StandaloneConnector } from "ioredis/built/connectors/index.js";

type Connect = AbstractConnector["connect"];

function ignoreLaterErrors(): void {}

function guarded(connect: Connect): Connect {
  return async (emitError) => {
    const stream = await connect(emitError);
    stream.on("error", ignoreLaterErrors);
    return stream;
  };
}

/** Guards every socket that `connection` opens from now on (standalone and Sentinel connections). */
export function guardSocketErrors(connection: Redis): void {
  // ioredis keeps its connector private; it is the one place where each socket is made.
  const connector = (connection as unknown as { connector: AbstractConnector }).connector;
  connector.connect = guarded(connector.connect.bind(connector));
}

/** The same guard as a connector class, for the node connections that ioredis's Cluster makes itself. */
export class GuardedStandaloneConnector extends StandaloneConnector {
  // ioredis's ConnectorConstructor takes `unknown`: it passes a node's merged RedisOptions.
  constructor(options: unknown) {
    super(options as StandaloneConnectionOptions);
  }

  override connect(emitError: Parameters<Connect>[0]): ReturnType<Connect> {
    return guarded((emit) => super.connect(emit))(emitError);
  }
}
