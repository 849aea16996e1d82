/**
 * Writes a server-streaming call's responses as gRPC frames straight to the
 * call's HTTP/2 stream, several frames in one write when the stream is still
 * sending the previous one. grpc-js writes each response as its own stream
 * write and waits for it to finish before the next, and a stream write costs
 * about the same whatever it holds (bench/notes.md, "Tenth round"), so a
 * stream that falls behind (1,000 watchers of one busy conversation) would
 * stay behind; this way it catches up in one write.
 *
 * grpc-js has no public way to write frames, so the stream is taken from the
 * call's private `call.stream` (grpc-js 1.14; a server interceptor hides it);
 * when it is not there, `framedResponseWriter` returns undefined and the
 * caller writes through grpc-js as usual (test/framed-responses.test.ts fails
 * when a grpc-js upgrade moves it). The gRPC wire format (a 5-byte
 * prefix: not compressed, then the length) is the protocol's, not grpc-js's.
 */
import type { ServerHttp2Stream } from "node:http2";
import * as grpc from "@grpc/grpc-js";

/** Frames not yet sent (in flight or held) at which `write` says "wait": grpc-js's default for a call's responses. */
const MAX_UNSENT_FRAMES = 16;

/** Responses' bytes as gRPC messages back to back, each with its 5-byte prefix (uncompressed), in one Buffer. */
export function grpcFrames(messages: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const message of messages) length += message.byteLength + 5;
  const frames = Buffer.allocUnsafe(length);
  let at = 0;
  for (const message of messages) {
    frames.writeUInt8(0, at);
    frames.writeUInt32BE(message.byteLength, at + 1);
    frames.set(message, at + 5);
    at += message.byteLength + 5;
  }
  return frames;
}

export class FramedResponseWriter {
  readonly #call: grpc.ServerWritableStream<unknown, unknown>;
  readonly #stream: ServerHttp2Stream;
  #headersSent = false;
  /** Frames in the write in flight; 0 = none in flight. */
  #sendingFrames = 0;
  #held: Buffer[] = [];
  #heldBytes = 0;
  /** gRPC messages in #held (a held buffer may carry several). */
  #heldFrames = 0;
  #drainWaiters: (() => void)[] = [];
  readonly #sent = (error?: Error | null) => this.#afterSend(error);

  constructor(call: grpc.ServerWritableStream<unknown, unknown>, stream: ServerHttp2Stream) {
    this.#call = call;
    this.#stream = stream;
    stream.once("close", () => this.#wakeDrainWaiters());
  }

  /**
   * Writes `frames` gRPC messages (one unless `bytes` is several frames back to back), or holds them
   * until the write in flight is done. False = hold no more, wait for drained().
   */
  write(bytes: Buffer, frames = 1): boolean {
    if (this.#closed()) return true;
    if (!this.#headersSent) {
      // grpc-js sends the response headers before its first message; frames written here need them too.
      this.#call.sendMetadata(new grpc.Metadata());
      this.#headersSent = true;
    }
    if (this.#sendingFrames === 0) this.#send(bytes, frames);
    else {
      this.#held.push(bytes);
      this.#heldBytes += bytes.byteLength;
      this.#heldFrames += frames;
    }
    return !this.#full();
  }

  /** Resolves once write() takes frames again (or the stream closed). */
  drained(): Promise<void> {
    if (!this.#full() || this.#closed()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Hands every held frame to the stream now, before the call ends (the stream keeps them in order ahead of its end). */
  flush(): void {
    if (this.#held.length === 0 || this.#closed()) return;
    this.#stream.write(this.#takeHeld());
  }

  #full(): boolean {
    return this.#sendingFrames + this.#heldFrames >= MAX_UNSENT_FRAMES;
  }

  /** Nothing more may be written: the caller went away, or grpc-js ended the stream (a deadline's status). */
  #closed(): boolean {
    return this.#call.cancelled || this.#stream.destroyed || this.#stream.writableEnded;
  }

  #send(bytes: Buffer, frames: number): void {
    this.#sendingFrames = frames;
    this.#stream.write(bytes, this.#sent);
  }

  #takeHeld(): Buffer {
    const held = this.#held.length === 1 ? (this.#held[0] as Buffer) : Buffer.concat(this.#held, this.#heldBytes);
    this.#dropHeld();
    return held;
  }

  #dropHeld(): void {
    this.#held = [];
    this.#heldBytes = 0;
    this.#heldFrames = 0;
  }

  #afterSend(error: Error | null | undefined): void {
    this.#sendingFrames = 0;
    if (error || this.#closed()) {
      this.#dropHeld();
      this.#wakeDrainWaiters();
      return;
    }
    if (this.#held.length > 0) {
      const frames = this.#heldFrames;
      this.#send(this.#takeHeld(), frames);
      return;
    }
    // Like a Node stream's "drain": writers waiting resume once everything went out, not at the first free slot.
    this.#wakeDrainWaiters();
  }

  #wakeDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }
}

/** The call's own HTTP/2 stream as grpc-js holds it, when this grpc-js version holds it where we look. */
function http2StreamOf(call: grpc.ServerWritableStream<unknown, unknown>): ServerHttp2Stream | undefined {
  const stream = (call as unknown as { call?: { stream?: unknown } }).call?.stream as Partial<ServerHttp2Stream> | undefined;
  const looksLikeOne =
    stream !== undefined &&
    typeof stream.write === "function" &&
    typeof stream.respond === "function" &&
    typeof stream.sendTrailers === "function" &&
    typeof stream.once === "function";
  return looksLikeOne ? (stream as ServerHttp2Stream) : undefined;
}

/** A writer of frames for `call`, or undefined when grpc-js does not expose its stream (write through grpc-js then). */
export function framedResponseWriter(call: grpc.ServerWritableStream<unknown, unknown>): FramedResponseWriter | undefined {
  const stream = http2StreamOf(call);
  return stream === undefined ? undefined : new FramedResponseWriter(call, stream);
}
