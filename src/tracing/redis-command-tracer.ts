/**
 * A client span per Redis command a call sends, as a child of the call's server span, with the
 * stable database semantic conventions (db.system.name, db.operation.name, db.stored_procedure.name
 * for the Lua script). The command's arguments (the messages) are never recorded: no db.query.text.
 * Commands sent outside a recorded call span make no span: the health checks' PING, calls not
 * sampled, and work that runs in the context of a call already ended (the Watch hub's reads on a
 * change run in the context where the shared subscriber connection was opened).
 */
import { context, type Attributes, SpanKind, SpanStatusCode, trace, type Tracer } from "@opentelemetry/api";
import {
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_STORED_PROCEDURE_NAME,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from "@opentelemetry/semantic-conventions";
import type { RedisCommand, RedisCommandHook } from "../store/redis-command-hook.js";

/** server.address, server.port and db.namespace (the database index) of a REDIS_URL; none for Cluster and Sentinel, whose node varies. */
export function redisServerAttributes(redisUrl: string | undefined): Attributes {
  if (redisUrl === undefined) return {};
  const url = new URL(redisUrl);
  const database = url.pathname.replace(/^\//, "") || "0";
  return { [ATTR_SERVER_ADDRESS]: url.hostname.replace(/^\[|\]$/g, ""), [ATTR_SERVER_PORT]: Number(url.port || 6379), [ATTR_DB_NAMESPACE]: database };
}

/** The error prefix Redis sent (ERR, NOSCRIPT, WRONGTYPE, ...), or the failure's name. */
function errorType(error: unknown): string {
  if (!(error instanceof Error)) return "_OTHER";
  const prefix = /^([A-Z]+) /.exec(error.message)?.[1];
  return prefix ?? error.name;
}

export class RedisCommandTracer implements RedisCommandHook {
  readonly #tracer: Tracer;
  readonly #server: Attributes;

  constructor(tracer: Tracer, server: Attributes) {
    this.#tracer = tracer;
    this.#server = server;
  }

  async around<T>(command: RedisCommand, send: () => Promise<T>): Promise<T> {
    const parent = context.active();
    // isRecording: false once a span has ended, and for calls the sampler left out.
    if (trace.getSpan(parent)?.isRecording() !== true) return send();
    const name = command.script === undefined ? command.operation : `${command.operation} ${command.script}`;
    const attributes: Attributes = { [ATTR_DB_SYSTEM_NAME]: "redis", [ATTR_DB_OPERATION_NAME]: command.operation, ...this.#server };
    if (command.script !== undefined) attributes[ATTR_DB_STORED_PROCEDURE_NAME] = command.script;
    const span = this.#tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
    try {
      return await send();
    } catch (error: unknown) {
      const type = errorType(error);
      span.setAttribute(ATTR_ERROR_TYPE, type);
      if (/^[A-Z]+$/.test(type)) span.setAttribute(ATTR_DB_RESPONSE_STATUS_CODE, type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  }
}
