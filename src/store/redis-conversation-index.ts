/**
 * Where the Redis store keeps its conversation index (ListConversations): one
 * Sorted Set per bucket, every score 0, member = the stored conversation id,
 * so ZRANGEBYLEX walks a bucket in a stable order and a listing resumes
 * exactly after the last id it returned.
 *
 * A Lua script may touch one Redis Cluster slot only, and the index is
 * written by the Append script: so on Cluster there is one bucket per hash
 * slot, named `<prefix>:{<tag>}:conversations` with a tag that hashes to that
 * slot. Standalone and Sentinel have one bucket. Conversation ids and the
 * prefix have no braces, so these names never meet a list key
 * (`<prefix>:<id>`) or a companion key (`{<prefix>:<id>}:<suffix>`).
 */
import calculateSlot from "cluster-key-slot";
import { type ConversationPage, type ListCursor, ListCursorError, type ListedConversation } from "./chat-store.js";

export const CLUSTER_SLOTS = 16384;

/**
 * For every slot, the first string of the sequence "0", "1", ... (base 36) whose CRC16 lands in it:
 * deterministic, so every replica (and any other program) derives the same names.
 */
function slotTags(): string[] {
  const tags: string[] = new Array<string>(CLUSTER_SLOTS);
  let found = 0;
  for (let n = 0; found < CLUSTER_SLOTS; n++) {
    const tag = n.toString(36);
    const slot = calculateSlot(tag);
    if (tags[slot] === undefined) {
      tags[slot] = tag;
      found++;
    }
  }
  return tags;
}

let clusterTags: string[] | undefined;

export class ConversationIndex {
  /** Buckets a listing walks, in order: 1, or one per Cluster slot. */
  readonly buckets: number;
  readonly #keys: string[];

  constructor(
    readonly keyPrefix: string,
    cluster: boolean,
  ) {
    if (cluster) {
      clusterTags ??= slotTags();
      this.#keys = clusterTags.map((tag) => `${keyPrefix}:{${tag}}:conversations`);
    } else {
      this.#keys = [`${keyPrefix}:{index}:conversations`];
    }
    this.buckets = this.#keys.length;
  }

  /** The index key of a bucket. */
  key(bucket: number): string {
    return this.#keys[bucket] as string;
  }

  /** The index key a conversation belongs to: its list key's slot's (on Cluster). */
  keyFor(listKey: string): string {
    return this.buckets === 1 ? this.key(0) : this.key(calculateSlot(listKey));
  }
}

/** One bucket's reply of the list script (LIST_BUCKET_LUA). */
export type BucketReply = (string | number)[];

/** Buckets asked at once on Cluster in a listing's first round; doubled each round the page is still short. */
const FIRST_ROUND_BUCKETS = 32;
const MAX_ROUND_BUCKETS = 2048;
/** Members one script call looks at beyond `limit` (dead ones it prunes), bounding its time in Redis. */
const EXTRA_MEMBERS_PER_CALL = 500;

/** ZRANGEBYLEX bounds of the ids that start with `idPrefix` (one ending in ':', or ""). */
function lexRange(idPrefix: string, after: string): { min: string; max: string } {
  const min = after !== "" ? `(${after}` : idPrefix === "" ? "-" : `[${idPrefix}`;
  // The first string past every id with the prefix: its last character, plus one.
  const max = idPrefix === "" ? "+" : `(${idPrefix.slice(0, -1)}${String.fromCharCode(idPrefix.charCodeAt(idPrefix.length - 1) + 1)}`;
  return { min, max };
}

/**
 * A page from the index: walks buckets in order from the cursor, several at once on Cluster
 * (ioredis sends each to its slot's node, pipelined), until the page is full. Replies of buckets
 * after the one that fills the page are dropped, so the cursor (bucket, last id) resumes exactly.
 */
export async function listFromIndex(
  index: ConversationIndex,
  listBucket: (key: string, min: string, max: string, limit: number, budget: number) => Promise<BucketReply>,
  idPrefix: string,
  limit: number,
  cursor: ListCursor | undefined,
): Promise<ConversationPage> {
  if (cursor !== undefined && cursor.bucket >= index.buckets) throw new ListCursorError(`names index bucket ${cursor.bucket}; this store has ${index.buckets}`);
  const conversations: ListedConversation[] = [];
  let bucket = cursor?.bucket ?? 0;
  let after = cursor?.after ?? "";
  let width = FIRST_ROUND_BUCKETS;
  while (bucket < index.buckets) {
    const wanted = limit - conversations.length;
    const round = Array.from({ length: Math.min(width, index.buckets - bucket) }, (_, i) => bucket + i);
    const replies = await Promise.all(
      round.map((b) => {
        const { min, max } = lexRange(idPrefix, b === bucket ? after : "");
        return listBucket(index.key(b), min, max, wanted, wanted + EXTRA_MEMBERS_PER_CALL);
      }),
    );
    const first = bucket;
    for (const [i, reply] of replies.entries()) {
      const b = first + i;
      const ended = reply[0] === "end";
      for (let j = 2; j < reply.length; j += 3) {
        const appended = reply[j + 2];
        conversations.push({ conversationId: String(reply[j]), count: Number(reply[j + 1]), lastAppendMs: appended === "" ? undefined : Number(appended) });
        if (conversations.length === limit) {
          const last = j + 3 >= reply.length;
          if (!last || !ended) return { conversations, next: { bucket: b, after: String(reply[j]) } };
          return { conversations, next: b + 1 < index.buckets ? { bucket: b + 1, after: "" } : undefined };
        }
      }
      if (!ended) {
        // The script stopped at its budget: this bucket goes on after the last member it looked at.
        bucket = b;
        after = String(reply[1]);
        break;
      }
      bucket = b + 1;
      after = "";
    }
    width = Math.min(width * 2, MAX_ROUND_BUCKETS);
  }
  return { conversations, next: undefined };
}
