/**
 * Who the caller's tenant is (src/service/tenancy.ts applies it). With an auth
 * mode on, every ChatMemory call must identify a tenant:
 *   token: `authorization: Bearer <token>` metadata; the tenants file maps SHA-256 digests of
 *          tokens to tenant names (no plaintext tokens in configuration).
 *   mtls:  the verified client certificate's subject CN is the tenant name.
 * Without a mode (the default) nothing changes: the Python class's key layout.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CallContext } from "../service/call-context.js";
import { ChatMemoryError, Code } from "../service/errors.js";
import type { TenantResolver } from "../service/tenancy.js";

export const AUTH_MODES = ["none", "token", "mtls"] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** Tenant names become part of Redis keys: no ':' (so `<prefix>:<tenant>:<id>` splits one way only), no braces. */
export const TENANT_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function tokenDigest(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * Reads a tenants file: `{"<tenant>": {"token_sha256": ["<64 hex>", ...]}, ...}`.
 * Throws an Error naming the problem (the config layer turns it into exit code 2).
 */
export function loadTenantTokens(path: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error: unknown) {
    throw new Error(`cannot read tenants file ${path}: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`tenants file ${path}: expected an object of tenants`);
  }
  const byDigest = new Map<string, string>();
  for (const [tenant, entry] of Object.entries(parsed)) {
    if (!TENANT_NAME_PATTERN.test(tenant)) throw new Error(`tenants file ${path}: tenant name ${JSON.stringify(tenant)} must match ${TENANT_NAME_PATTERN}`);
    const digests = (entry as { token_sha256?: unknown } | null)?.token_sha256;
    if (!Array.isArray(digests) || digests.length === 0) throw new Error(`tenants file ${path}: tenant ${tenant} needs a non-empty token_sha256 list`);
    for (const digest of digests) {
      if (typeof digest !== "string" || !/^[0-9a-f]{64}$/.test(digest)) throw new Error(`tenants file ${path}: tenant ${tenant} has a token_sha256 that is not 64 lowercase hex digits`);
      if (byDigest.has(digest)) throw new Error(`tenants file ${path}: a token is listed for both ${byDigest.get(digest)} and ${tenant}`);
      byDigest.set(digest, tenant);
    }
  }
  if (byDigest.size === 0) throw new Error(`tenants file ${path}: no tenants`);
  return byDigest;
}

function unauthenticated(reason: string): ChatMemoryError {
  return new ChatMemoryError(Code.UNAUTHENTICATED, reason);
}

function bearerToken(context: CallContext): string | undefined {
  const value = context.requestHeader("authorization");
  if (value === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

export function createTenantResolver(mode: AuthMode, tokens?: ReadonlyMap<string, string>): TenantResolver {
  switch (mode) {
    case "none":
      return () => undefined;
    case "token":
      return (context) => {
        const token = bearerToken(context);
        if (token === undefined) throw unauthenticated("missing `authorization: Bearer <token>` metadata");
        const tenant = tokens?.get(tokenDigest(token));
        if (tenant === undefined) throw unauthenticated("unknown token");
        return tenant;
      };
    case "mtls":
      return (context) => {
        const commonName = context.peerCertificate?.subject?.CN;
        if (typeof commonName !== "string" || commonName === "") throw unauthenticated("a client certificate with a subject CN is required");
        if (!TENANT_NAME_PATTERN.test(commonName)) throw unauthenticated("the client certificate's CN is not a valid tenant name");
        return commonName;
      };
  }
}
