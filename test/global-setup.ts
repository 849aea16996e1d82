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
    const { GenericContainer, Wait, getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    // Wait for Redis's own ready line: the default port probe execs a shell, which a minimal image lacks.
    const container = await new GenericContainer(CONTAINER_IMAGE)
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage("Ready to accept connections"))
      .withStartupTimeout(30_000)
      .start();
    // Tests talk to loopback only (the port is published there), whatever address the runtime reports.
    return { url: `redis://127.0.0.1:${container.getMappedPort(6379)}/0`, stop: async () => void (await container.stop()) };
  } catch (error: unknown) {
    const reason = (error as Error).message.split("\n")[0];
    // CI sets this for its testcontainers run, so a broken container path fails instead of falling back.
    if (process.env.CHATMEMORY_TEST_REQUIRE_CONTAINERS === "1") throw new Error(`testcontainers required but failed: ${reason}`);
    console.log(`[chatmemory tests] no usable container runtime (${reason})`);
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
