/**
 * `host:port` addresses, parsed in one place: listen addresses, Redis Cluster
 * seed nodes and Sentinels all use this form. A host is a DNS name, an IPv4
 * address or a bracketed IPv6 address.
 */

export interface HostPort {
  /** Without brackets for IPv6 (`::1`), as sockets want it. */
  host: string;
  port: number;
}

const HOST_PORT_PATTERN = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Parses one `host:port`; port 0 is allowed only with `allowPortZero` (listeners: pick a free port). Throws on anything else. */
export function parseHostPort(raw: string, options: { allowPortZero?: boolean } = {}): HostPort {
  const entry = raw.trim();
  const match = HOST_PORT_PATTERN.exec(entry);
  const port = Number(match?.[2]);
  const lowest = options.allowPortZero ? 0 : 1;
  if (!match?.[1] || port < lowest || port > 65535) throw new Error(`${JSON.stringify(entry)} is not host:port`);
  return { host: match[1].replace(/^\[|\]$/g, ""), port };
}

/** Parses `host:port,host:port` (REDIS_CLUSTER_NODES, REDIS_SENTINELS); throws on a bad or missing entry. */
export function parseHostPortList(raw: string): HostPort[] {
  const entries = raw.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  if (entries.length === 0) throw new Error("expected host:port[,host:port...]");
  return entries.map((entry) => parseHostPort(entry));
}

/** `host:port` again, with brackets around an IPv6 host. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
