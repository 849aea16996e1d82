/**
 * Keeps the standard gRPC health service truthful: pings the store on an
 * interval and flips every registered service name between SERVING and
 * NOT_SERVING as the store comes and goes (grpc-go examples/features/health).
 */
import type { HealthImplementation, ServingStatus } from "grpc-health-check";
import type { Logger } from "pino";
import type { ChatStore } from "../store/chat-store.js";

export interface StoreHealthMonitorOptions {
  store: ChatStore;
  health: HealthImplementation;
  /** Service names whose status follows the store ("" is the whole server). */
  serviceNames: readonly string[];
  intervalMs: number;
  logger: Logger;
}

export class StoreHealthMonitor {
  readonly #options: StoreHealthMonitorOptions;
  #status: ServingStatus = "UNKNOWN";
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: StoreHealthMonitorOptions) {
    this.#options = options;
  }

  get status(): ServingStatus {
    return this.#status;
  }

  /** Checks once now, then keeps checking every interval until stop(). */
  async start(): Promise<void> {
    await this.#check();
  }

  /** Reports NOT_SERVING for good (shutdown) and stops checking. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#set("NOT_SERVING");
  }

  async #check(): Promise<void> {
    let healthy = true;
    try {
      await this.#options.store.ping();
    } catch (error: unknown) {
      healthy = false;
      if (this.#status !== "NOT_SERVING") this.#options.logger.warn({ err: error }, "store unreachable");
    }
    if (this.#stopped) return;
    this.#set(healthy ? "SERVING" : "NOT_SERVING");
    this.#timer = setTimeout(() => void this.#check(), this.#options.intervalMs);
    this.#timer.unref();
  }

  #set(status: ServingStatus): void {
    if (status === this.#status) return;
    const previous = this.#status;
    this.#status = status;
    for (const name of this.#options.serviceNames) this.#options.health.setStatus(name, status);
    const level = status === "SERVING" ? "info" : "warn";
    this.#options.logger[level]({ from: previous, to: status, store: this.#options.store.kind }, "health status changed");
  }
}
