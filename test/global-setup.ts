/**
 * One Redis for the whole run, provided to every test file as `redisUrl`:
 * through testcontainers when a container runtime answers, otherwise a
 * redis-server spawned on a free loopback port. The run prints which.
 */
import type { TestProject } from "vitest/node";
import { RedisServerProcess } from "./helpers/redis-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
    redisRuntime: string;
  }
}

const CONTAINER_IMAGE = process.env.CHATMEMORY_TEST_REDIS_IMAGE ?? "redis:7";

async function startContainerRedis(): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  if (process.env.CHATMEMORY_TEST_NO_CONTAINERS === "1") return undefined;
  try {
    const { GenericContainer, getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    const container = await new GenericContainer(CONTAINER_IMAGE)
      .withExposedPorts(6379)
      .withCommand(["redis-server", "--save", "", "--appendonly", "no"])
      .start();
    // Tests talk to loopback only, whatever address the runtime reports.
    return { url: `redis://127.0.0.1:${container.getMappedPort(6379)}/0`, stop: async () => void (await container.stop()) };
  } catch (error: unknown) {
    console.log(`[chatmemory tests] no usable container runtime (${(error as Error).message.split("\n")[0]})`);
    return undefined;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const container = await startContainerRedis();
  if (container) {
    console.log(`[chatmemory tests] Redis from testcontainers (${CONTAINER_IMAGE}) at ${container.url}`);
    project.provide("redisUrl", container.url);
    project.provide("redisRuntime", "testcontainers");
    return container.stop;
  }
  const redis = await RedisServerProcess.start();
  console.log(`[chatmemory tests] Redis from a spawned redis-server at ${redis.url}`);
  project.provide("redisUrl", redis.url);
  project.provide("redisRuntime", "redis-server");
  return () => redis.stop();
}
