/**
 * An ioredis connection that sends the commands of a burst in one socket
 * write, without ioredis's auto-pipelining.
 *
 * The socket is corked on a burst's first command and uncorked:
 * - on `process.nextTick` when nothing else is in flight, so a lone call is
 *   written as soon as the promise jobs of its I/O callback have run;
 * - on `setImmediate` while replies are pending, so under load the commands of
 *   every I/O callback of this event-loop turn share one write (one syscall
 *   here, one read in Redis) and nobody waits longer than the replies already
 *   in flight.
 * Auto-pipelining always waits for `setImmediate`, wraps each batch in a
 * Pipeline with its own promise and result array, and keeps one batch in
 * flight per connection. Replies, timeouts and errors stay ioredis's own.
 */
import type { Socket } from "node:net";
import { Redis } from "ioredis";

type SendCommand = Redis["sendCommand"];

function uncork(socket: Socket, connection: CoalescingRedis): void {
  socket.uncork();
  connection.corked = undefined;
}

export class CoalescingRedis extends Redis {
  /** The socket corked for the current burst, if any. */
  corked: Socket | undefined;

  override sendCommand(...args: Parameters<SendCommand>): ReturnType<SendCommand> {
    const socket = this.stream as Socket | undefined;
    // Only direct writes on a ready connection are batched; an explicit target stream is a pipeline's.
    if (this.corked === undefined && args[1] === undefined && socket?.writable === true && this.status === "ready") {
      socket.cork();
      this.corked = socket;
      if (this.commandQueue.length > 0) setImmediate(uncork, socket, this);
      else process.nextTick(uncork, socket, this);
    }
    return super.sendCommand(...args);
  }
}
