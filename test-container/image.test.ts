/**
 * The deployable image, as an operator runs it: podman, host networking on
 * loopback, Redis beside it, called through the TypeScript client.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChatMemoryClient } from "../clients/typescript/src/index.js";
import { RedisServerProcess, freePort } from "../test/helpers/redis-server.js";
import { sleep, waitFor } from "../test/helpers/test-server.js";

const run = promisify(execFile);
const IMAGE = process.env.CHATMEMORY_IMAGE ?? "localhost/chatmemory:dev";

async function podman(...args: string[]): Promise<string> {
  const { stdout } = await run("podman", args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** `podman healthcheck run`: runs the image's HEALTHCHECK once; true when it exits 0. */
async function healthy(container: string): Promise<boolean> {
  return podman("healthcheck", "run", container).then(
    () => true,
    () => false,
  );
}

interface ImageConfig {
  User: string;
  Env: string[];
  Entrypoint: string[];
  ExposedPorts: Record<string, unknown>;
  StopSignal?: string;
}

describe(`image ${IMAGE}`, () => {
  let redis: RedisServerProcess;
  let port: number;
  const container = `chatmemory-test-${process.pid}`;

  beforeAll(async () => {
    redis = await RedisServerProcess.start();
    port = await freePort();
    await podman(
      "run", "-d", "--name", container, "--network", "host",
      "-e", `CHATMEMORY_LISTEN=0.0.0.0:${port}`, "-e", `REDIS_URL=${redis.url}`, "-e", "CHATMEMORY_MAX_TURNS=3",
      IMAGE,
    );
    await waitFor(() => healthy(container), 30_000, 250);
  });
  afterAll(async () => {
    await podman("rm", "-f", container).catch(() => "");
    await redis.stop();
  });

  it("is configured for production: non-root, gRPC health check, SIGTERM, 0.0.0.0:50051", async () => {
    const [image] = JSON.parse(await podman("image", "inspect", IMAGE)) as {
      Size: number;
      Config: ImageConfig;
      // podman keeps the Docker-format HEALTHCHECK beside the OCI config.
      Healthcheck?: { Test: string[] };
    }[];
    const config = image?.Config;
    expect(config?.User).toBe("node");
    expect(config?.Env).toContain("CHATMEMORY_LISTEN=0.0.0.0:50051");
    expect(config?.Env).toContain("NODE_ENV=production");
    expect(Object.keys(config?.ExposedPorts ?? {})).toEqual(["50051/tcp"]);
    expect(config?.Entrypoint).toEqual(["node", "dist/src/main.js"]);
    expect(config?.StopSignal).toBe("SIGTERM");
    expect(image?.Healthcheck?.Test).toEqual(["CMD", "node", "dist/src/healthcheck.js"]);
    console.log(`[container] image ${IMAGE}: ${((image?.Size ?? 0) / 1e6).toFixed(1)} MB`);
  });

  it("runs as uid 1000 with production dependencies only", async () => {
    expect(await podman("exec", container, "id", "-u")).toBe("1000");
    const modules = (await podman("exec", container, "ls", "node_modules")).split(/\s+/);
    expect(modules).toContain("ioredis");
    expect(modules).not.toContain("vitest");
    expect(modules).not.toContain("typescript");
    expect((await podman("exec", container, "ls", "node_modules/@bufbuild")).split(/\s+/)).toEqual(["protobuf"]);
  });

  it("serves the TypeScript client", async () => {
    const client = createChatMemoryClient({ address: `127.0.0.1:${port}` });
    try {
      for (const content of ["one", "two", "three", "four", "five", "six", "seven"]) {
        await client.append({ conversationId: "container", messages: [{ role: "user", content }] });
      }
      const { messages } = await client.getHistory({ conversationId: "container" });
      expect(messages.map((m) => m.content)).toEqual(["two", "three", "four", "five", "six", "seven"]);
    } finally {
      client.close();
    }
  });

  it("reports unhealthy through HEALTHCHECK when Redis is gone, healthy when it returns", async () => {
    await redis.kill();
    await waitFor(async () => !(await healthy(container)), 10_000, 250);
    await redis.start();
    await waitFor(() => healthy(container), 10_000, 250);
  });

  it("drains in-flight calls on SIGTERM (podman stop) as PID 1 and exits 0", async () => {
    const client = createChatMemoryClient({ address: `127.0.0.1:${port}`, defaultDeadlineMs: 10_000 });
    redis.pause();
    const calls = Array.from({ length: 20 }, (_, i) =>
      client.append({ conversationId: "container-drain", messages: [{ role: "user", content: `in flight ${i}` }] }),
    );
    await sleep(300);
    const stopped = podman("stop", "-t", "10", container);
    await sleep(300);
    redis.resume();
    const results = await Promise.allSettled(calls);
    await stopped;
    client.close();
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(await podman("inspect", "--format", "{{.State.ExitCode}}", container)).toBe("0");
    expect(await podman("logs", container)).toContain('"msg":"stopped"');
  });
});
