/**
 * ListConversations page tokens: opaque to callers (base64url), versioned, and
 * checked. A token holds where the listing resumes (index bucket, last id
 * returned, without the tenant) and a SHA-256 digest over that and the tenant,
 * so a token the server did not make, a damaged one, or one made for another
 * tenant is refused with INVALID_ARGUMENT `page_token`. The digest is not a
 * secret MAC: every replica accepts every replica's tokens with no key to
 * share. What a forged token could name is harmless anyway: the listing stays
 * inside the caller's own ids.
 */
import { createHash } from "node:crypto";
import type { ListCursor } from "../store/chat-store.js";
import { ChatMemoryError } from "./errors.js";
import { CONVERSATION_ID_PATTERN } from "./validate.js";

const VERSION = 1;
const DIGEST_BYTES = 12;
/** Longer than any token this server makes (a 256-character id, a bucket number, the digest). */
const MAX_TOKEN_LENGTH = 512;

function digest(tenant: string | undefined, body: Buffer): Buffer {
  const hash = createHash("sha256");
  hash.update(`chatmemory page token\u0000${tenant ?? ""}\u0000`);
  hash.update(body);
  return hash.digest().subarray(0, DIGEST_BYTES);
}

/** `after` is the caller's id (no tenant namespace), "" for the start of `bucket`. */
export function encodePageToken(tenant: string | undefined, cursor: ListCursor): string {
  const body = Buffer.from(JSON.stringify([VERSION, cursor.bucket, cursor.after]), "utf8");
  return Buffer.concat([digest(tenant, body), body]).toString("base64url");
}

function invalid(problem: string): ChatMemoryError {
  return ChatMemoryError.invalidArgument("page_token", problem);
}

/** The cursor a token names, with `after` as the caller's id; throws INVALID_ARGUMENT `page_token`. */
export function decodePageToken(tenant: string | undefined, token: string): ListCursor {
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid("not a page token this service issued");
  const bytes = Buffer.from(token, "base64url");
  const body = bytes.subarray(DIGEST_BYTES);
  if (bytes.length <= DIGEST_BYTES || !digest(tenant, body).equals(bytes.subarray(0, DIGEST_BYTES))) {
    throw invalid("not a page token this service issued to this caller");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw invalid("not a page token this service issued");
  }
  if (!Array.isArray(parsed) || parsed[0] !== VERSION) throw invalid("a page token of a version this server does not read");
  const [, bucket, after] = parsed as unknown[];
  if (!Number.isSafeInteger(bucket) || (bucket as number) < 0 || typeof after !== "string" || (after !== "" && !CONVERSATION_ID_PATTERN.test(after))) {
    throw invalid("not a page token this service issued");
  }
  return { bucket: bucket as number, after };
}
