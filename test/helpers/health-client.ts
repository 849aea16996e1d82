/** A grpc.health.v1 client from grpc-health-check's own service definition. */
import * as grpc from "@grpc/grpc-js";
import { service as healthServiceDefinition } from "grpc-health-check";

const HealthClient = grpc.makeGenericClientConstructor(
  healthServiceDefinition as unknown as grpc.ServiceDefinition,
  "Health",
);

type CheckResult = { status: string } | { code: grpc.status };

/** Calls Health/Check; resolves to the serving status, or the error code (e.g. NOT_FOUND). */
export function checkHealth(address: string, service: string, deadlineMs = 2000): Promise<CheckResult> {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  return new Promise<CheckResult>((resolve) => {
    const check = client.check as unknown as (
      request: { service: string },
      options: grpc.CallOptions,
      callback: (error: grpc.ServiceError | null, response?: { status: string }) => void,
    ) => void;
    check.call(client, { service }, { deadline: Date.now() + deadlineMs }, (error, response) => {
      client.close();
      resolve(error ? { code: error.code } : { status: String(response?.status) });
    });
  });
}

export async function servingStatus(address: string, service = ""): Promise<string> {
  const result = await checkHealth(address, service);
  return "status" in result ? result.status : `error:${grpc.status[result.code]}`;
}
