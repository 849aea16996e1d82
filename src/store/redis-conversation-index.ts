/**
 * Where the Redis store keeps its conversation index (ListConversations): one
 * Sorted Set per bucket, every score 0, member = the stored conversation id,
 * so ZRANGEBYLEX walks a bucket in a stable order and a listing resumes
 * exactly after the last id it returned.
 *
 * A Lua script may touch one Redis Cluster slot only, and the index is
 * written by the Append script: so on Cluster there is one bucket per hash
 * slot, named `<prefix>:{<tag>}:conversations` with a tag that hashes to that
 * slot. Standalone and Sentinel have one bucket (tag `index`). Conversation
 * ids and the prefix have no braces, so these names never meet a list key
 * (`<prefix>:<id>`) or a companion key (`{<prefix>:<id>}:<suffix>`).
 */
/// <reference path="./cluster-key-slot.d.ts" />
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
  /** The bucket's tags, in the order a listing walks them: one, or one per Cluster slot. */
  readonly tags: readonly string[];

  constructor(
    readonly keyPrefix: string,
    cluster: boolean,
  ) {
    this.tags = cluster ? (clusterTags ??= slotTags()) : ["index"];
  }

  get buckets(): number {
    return this.tags.length;
  }

  /** The index key of a bucket. */
  key(bucket: number): string {
    return `${this.keyPrefix}:{${this.tags[bucket]}}:conversations`;
  }

  /** The index key a conversation belongs to: its list key's slot's (on Cluster). */
  keyFor(listKey: string): string {
    return this.key(this.buckets === 1 ? 0 : calculateSlot(listKey));
  }
}

/** A run of buckets' reply of the list script (LIST_BUCKETS_LUA). */
export type BucketsReply = (string | number)[];

/** Runs one list script call over `tags` (consecutive buckets on one node), the first of which is `firstKey`. */
export type ListBuckets = (firstKey: string, min: string, max: string, limit: number, budget: number, laterMin: string, tags: string[]) => Promise<BucketsReply>;

/** Most buckets one script call walks (its ARGV carries their tags), bounding its time in Redis. */
const MAX_RUN_BUCKETS = 1024;
/** Members one script call looks at beyond `limit` (dead ones it prunes), bounding its time in Redis. */
const EXTRA_MEMBERS_PER_CALL = 500;

/** ZRANGEBYLEX bounds of the ids that start with `idPrefix` (one ending in ':', or ""). */
function lexRange(idPrefix: string, after: string): { min: string; max: string } {
  const min = after !== "" ? `(${after}` : idPrefix === "" ? "-" : `[${idPrefix}`;
  // The first string past every id with the prefix: its last character, plus one.
  const max = idPrefix === "" ? "+" : `(${idPrefix.slice(0, -1)}${String.fromCharCode(idPrefix.charCodeAt(idPrefix.length - 1) + 1)}`;
  return { min, max };
}

/** Consecutive buckets from `first` that one node serves (ownerOf: a slot's node, or undefined when unknown). */
function runLength(index: ConversationIndex, first: number, ownerOf: (slot: number) => string | undefined): number {
  if (index.buckets === 1) return 1;
  const owner = ownerOf(first);
  let end = first + 1;
  while (end < index.buckets && end - first < MAX_RUN_BUCKETS && owner !== undefined && ownerOf(end) === owner) end++;
  return end - first;
}

/**
 * A page from the index: walks buckets in order from the cursor, one script call per run of
 * buckets a node serves, until the page is full, so the cursor (bucket, last id) resumes exactly.
 */
export async function listFromIndex(
  index: ConversationIndex,
  listBuckets: ListBuckets,
  ownerOf: (slot: number) => string | undefined,
  idPrefix: string,
  limit: number,
  cursor: ListCursor | undefined,
): Promise<ConversationPage> {
  if (cursor !== undefined && cursor.bucket >= index.buckets) throw new ListCursorError(`names index bucket ${cursor.bucket}; this store has ${index.buckets}`);
  const conversations: ListedConversation[] = [];
  let bucket = cursor?.bucket ?? 0;
  let after = cursor?.after ?? "";
  const laterMin = lexRange(idPrefix, "").min;
  while (bucket < index.buckets) {
    const wanted = limit - conversations.length;
    const run = runLength(index, bucket, ownerOf);
    const { min, max } = lexRange(idPrefix, after);
    const tags = index.tags.slice(bucket, bucket + run) as string[];
    const reply = await listBuckets(index.key(bucket), min, max, wanted, wanted + EXTRA_MEMBERS_PER_CALL, laterMin, tags);
    for (let j = 3; j < reply.length; j += 4) {
      const appended = reply[j + 3];
      const id = String(reply[j + 1]);
      conversations.push({ conversationId: id, count: Number(reply[j + 2]), lastAppendMs: appended === "" ? undefined : Number(appended) });
      if (conversations.length === limit) {
        const nothingFollows = reply[0] === "end" && j + 4 >= reply.length && bucket + run >= index.buckets;
        return { conversations, next: nothingFollows ? undefined : { bucket: bucket + Number(reply[j]), after: id } };
      }
    }
    if (reply[0] === "end") {
      bucket += run;
      after = "";
    } else {
      // The script stopped at its budget: go on after the last member it looked at.
      bucket += Number(reply[1]);
      after = String(reply[2]);
    }
  }
  return { conversations, next: undefined };
}
