/** ListConversations: page size rules, page tokens and the tenant's part of the index. */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ListConversationsRequest } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import type { ChatStore } from "../store/chat-store.js";
import { ChatMemoryError } from "./errors.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { scopedConversationId } from "./tenancy.js";

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

export function pageSizeOf(request: ListConversationsRequest): number {
  if (request.pageSize < 0) throw ChatMemoryError.invalidArgument("page_size", `must not be negative, got ${request.pageSize}`);
  return request.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(request.pageSize, MAX_PAGE_SIZE);
}

/** One page of the tenant's conversations (all of them without tenancy), ids as the caller gave them. */
export async function listConversations(store: ChatStore, tenant: string | undefined, request: ListConversationsRequest) {
  const pageSize = pageSizeOf(request);
  // The tenant's namespace: its ids are one lexical range of the index ("" = every id).
  const idPrefix = tenant === undefined ? "" : scopedConversationId(tenant, "");
  const token = request.pageToken === "" ? undefined : decodePageToken(tenant, request.pageToken);
  const cursor = token && { bucket: token.bucket, after: token.after === "" ? "" : idPrefix + token.after };
  const page = await store.listConversations(idPrefix, pageSize, cursor);
  const next = page.next && { bucket: page.next.bucket, after: page.next.after.slice(page.next.after === "" ? 0 : idPrefix.length) };
  return {
    conversations: page.conversations.map(({ conversationId, count, lastAppendMs }) => ({
      conversationId: conversationId.slice(idPrefix.length),
      count: BigInt(count),
      lastAppendTime: lastAppendMs === undefined ? undefined : timestampFromMs(lastAppendMs),
    })),
    nextPageToken: next === undefined ? "" : encodePageToken(tenant, next),
  };
}
