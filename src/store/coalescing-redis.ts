/**
 * An ioredis connection that batches the commands issued in one turn of the
 * event loop into one socket write, without ioredis's auto-pipelining.
 *
 * Why not auto-pipelining: it defers every batch to `setImmediate` (a later
 * phase of the event loop, so a lone call waits for it), wraps each batch in
 * a Pipeline with its own promise and result array, and keeps only one batch
 * in flight per connection. Corking the socket on the first command of a tick
 * and uncorking it on `process.nextTick` (after the promise jobs of the
 * current I/O callback have run) gives the same single write per burst with
 * none of that. Replies, timeouts and errors stay ioredis's own.
 */
import type { Socket } from "node:net";
import { Redis } from "ioredis";

type SendCommand = Redis["sendCommand"];

function uncork(socket: Socket, connection: CoalescingRedis): void {
  socket.uncork();
  connection.corked = undefined;
}

export class CoalescingRedis extends Redis {
  /** The socket corked for the current tick, if any. */
  corked: Socket | undefined;

  override sendCommand(...args: Parameters<SendCommand>): ReturnType<SendCommand> {
    const socket = this.stream as Socket | undefined;
    // Only direct writes on a ready connection are batched; an explicit target stream is a pipeline's.
    if (this.corked === undefined && args[1] === undefined && socket?.writable === true && this.status === "ready") {
      socket.cork();
      this.corked = socket;
      process.nextTick(uncork, socket, this);
    }
    return super.sendCommand(...args);
  }
}
