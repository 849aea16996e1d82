/** A Watch consumer for tests: rebuilds the conversation from the responses as a client would. */
import type { WatchResponse } from "../../clients/typescript/src/index.js";

/** What one watcher holds: its view of the conversation, rebuilt from the responses as a client would. */
export class WatcherView {
  seqs: number[] = [];
  contents: string[] = [];
  responses = 0;
  resetsAfterFirst = 0;
  /** Non-reset responses that did not continue exactly at the last seq held. */
  discontinuities = 0;
  error: unknown;
  readonly #abort = new AbortController();
  readonly done: Promise<void>;

  constructor(watch: (signal: AbortSignal) => AsyncIterable<WatchResponse>) {
    this.done = this.#consume(watch(this.#abort.signal));
  }

  async #consume(responses: AsyncIterable<WatchResponse>): Promise<void> {
    try {
      for await (const response of responses) {
        if (response.reset) {
          if (this.responses > 0) this.resetsAfterFirst++;
          this.seqs = [];
          this.contents = [];
        } else if (response.messages.length > 0 && Number(response.messages[0]?.seq) !== (this.seqs.at(-1) ?? 0) + 1) {
          this.discontinuities++;
        }
        for (const message of response.messages) {
          this.seqs.push(Number(message.seq));
          this.contents.push(message.content);
        }
        this.responses++;
      }
    } catch (error: unknown) {
      this.error = error;
    }
  }

  stop(): void {
    this.#abort.abort();
  }
}

