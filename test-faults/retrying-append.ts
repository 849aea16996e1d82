/** A caller that retries an Append with the same request_id until it is acknowledged. */
import * as grpc from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AppendRequestSchema } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import type { ChatMemoryClient } from "../clients/typescript/src/index.js";

/** Failures after which a caller should retry an idempotent append. */
const RETRYABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

export interface RetryOutcome {
  count: bigint;
  attempts: number;
}

export async function appendUntilAcknowledged(
  client: ChatMemoryClient,
  request: MessageInitShape<typeof AppendRequestSchema>,
  options: { deadlineMs: number; maxAttempts: number; backoffMs: number },
): Promise<RetryOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { count } = await client.append(request, { deadlineMs: options.deadlineMs });
      return { count, attempts: attempt };
    } catch (error: unknown) {
      const code = (error as grpc.ServiceError).code;
      if (!RETRYABLE.has(code) || attempt >= options.maxAttempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, options.backoffMs));
    }
  }
}
