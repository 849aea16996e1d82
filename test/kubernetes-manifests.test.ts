/**
 * deploy/kubernetes/: every manifest parses, sets only settings the server knows (a typo fails
 * here, not silently in a cluster), with values the server accepts, and the pieces agree: ports,
 * probes, labels, the termination grace period against the drain.
 */
import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseHostPort } from "../src/host-port.js";
import { HEALTH_SERVICE_NAMES } from "../src/server.js";
import { SETTINGS } from "../src/settings.js";

const DIR = new URL("../deploy/kubernetes/", import.meta.url);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // The rest is checked field by field below.
  [key: string]: unknown;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Probe {
  grpc?: { port: number; service?: string };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string> };
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
}
interface Deployment extends Manifest {
  spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}

const manifests: Manifest[] = readdirSync(DIR)
  .filter((file) => file.endsWith(".yaml"))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(new URL(file, DIR), "utf8")).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((error) => error.message).join("; ")}`);
      return document.toJS() as Manifest;
    }),
  );

function only<T extends Manifest>(kind: string): T {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  expect(found, `one ${kind}`).toHaveLength(1);
  return found[0] as T;
}

const KNOWN = new Map(Object.values(SETTINGS).map((setting) => [setting.env as string, setting]));
const deployment = only<Deployment>("Deployment");
const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;
const configMap = only<Manifest & { data: Record<string, string> }>("ConfigMap");
const secret = only<Manifest & { stringData?: Record<string, string>; data?: Record<string, string> }>("Secret");
const service = only<Manifest & { spec: { clusterIP?: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: number | string }[] } }>("Service");
const pdb = only<Manifest & { spec: { selector: { matchLabels: Record<string, string> } } }>("PodDisruptionBudget");

/** What the container's environment holds: its env entries and every ConfigMap it imports. */
function environmentNames(): string[] {
  const names = (container.env ?? []).map((variable) => variable.name);
  for (const source of container.envFrom ?? []) {
    expect(source.configMapRef?.name, "envFrom imports only the ConfigMap").toBe(configMap.metadata.name);
    names.push(...Object.keys(configMap.data));
  }
  return names;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);
}

describe("deploy/kubernetes", () => {
  it("parses: a Deployment, a headless Service, a PodDisruptionBudget, a ConfigMap and a Secret", () => {
    expect(manifests.map((manifest) => manifest.kind).sort()).toEqual(["ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "Service"]);
    expect(pod.containers).toHaveLength(1);
  });

  it("sets only settings the server knows, with values it accepts", () => {
    const names = environmentNames();
    expect(names.filter((name) => !KNOWN.has(name))).toEqual([]);
    expect(new Set(names).size, "no variable set twice").toBe(names.length);
    for (const [name, value] of Object.entries(configMap.data)) {
      expect(() => KNOWN.get(name)!.type.parse(value), `${name}=${value}`).not.toThrow();
    }
    for (const variable of container.env ?? []) {
      if (variable.value !== undefined) expect(() => KNOWN.get(variable.name)!.type.parse(variable.value!), variable.name).not.toThrow();
    }
    expect(configMap.data.CHATMEMORY_MAX_CONNECTION_AGE_MS, "connection age set so clients rebalance").toBeDefined();
  });

  it("takes the Redis URL from the Secret, and the URL is one the server accepts", () => {
    expect(configMap.data.REDIS_URL, "no Redis URL (password) in the ConfigMap").toBeUndefined();
    const redisUrl = container.env?.find((variable) => variable.name === "REDIS_URL");
    const ref = redisUrl?.valueFrom?.secretKeyRef;
    expect(ref?.name).toBe(secret.metadata.name);
    const value = secret.stringData?.[ref!.key] ?? Buffer.from(secret.data?.[ref!.key] ?? "", "base64").toString();
    expect(() => SETTINGS.redisUrl.type.parse(value)).not.toThrow();
  });

  it("serves, probes and exposes the port of CHATMEMORY_LISTEN", () => {
    const { port } = parseHostPort(configMap.data.CHATMEMORY_LISTEN!, { allowPortZero: false });
    const grpcPort = container.ports?.find((entry) => entry.name === "grpc");
    expect(grpcPort?.containerPort).toBe(port);
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe?.grpc?.port).toBe(port);
      expect(HEALTH_SERVICE_NAMES as readonly string[]).toContain(probe?.grpc?.service ?? "");
    }
    expect(container.readinessProbe?.grpc?.service).toBe("chatmemory.v1.ChatMemory");
    const metrics = configMap.data.CHATMEMORY_METRICS_LISTEN;
    if (metrics !== undefined) expect(container.ports?.find((entry) => entry.name === "metrics")?.containerPort).toBe(parseHostPort(metrics).port);
    const servicePort = service.spec.ports.find((entry) => entry.name === "grpc");
    expect([grpcPort?.name, grpcPort?.containerPort]).toContain(servicePort?.targetPort);
  });

  it("gives the drain time: terminationGracePeriodSeconds > preStop sleep + CHATMEMORY_SHUTDOWN_GRACE_MS", () => {
    const preStop = container.lifecycle?.preStop;
    const sleepSeconds = preStop?.sleep?.seconds ?? Number(preStop?.exec?.command.at(-1));
    expect(sleepSeconds).toBeGreaterThan(0);
    const graceMs = Number(configMap.data.CHATMEMORY_SHUTDOWN_GRACE_MS ?? SETTINGS.shutdownGraceMs.default);
    expect(pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(sleepSeconds * 1000 + graceMs);
  });

  it("runs 2+ replicas as the image's non-root user with resource requests", () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(container.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it("labels agree: the Deployment, the headless Service and the PodDisruptionBudget select the pods", () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(selects(deployment.spec.selector.matchLabels, labels)).toBe(true);
    expect(service.spec.clusterIP).toBe("None");
    expect(selects(service.spec.selector, labels)).toBe(true);
    expect(selects(pdb.spec.selector.matchLabels, labels)).toBe(true);
  });
});
