/**
 * ListConversations on one store, through a real gRPC server and the TypeScript client: paging,
 * summaries, what is not listed, page sizes and tokens, tenants, and listings that run while other
 * callers append and clear. Each suite's server has its own key prefix, so it lists only its own.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata } from "../../clients/typescript/src/index.js";
import type { CallContext } from "../../src/service/call-context.js";
import { type TestServer, type TestServerOptions, sleep, startTestServer, statusOf, uniqueId } from "./test-server.js";

/** Tests name the tenant in a header (the real resolvers read a token or a certificate). */
const tenantFromHeader = (context: CallContext) => context.requestHeader("x-tenant");

function as(tenant: string) {
  const metadata = new Metadata();
  metadata.set("x-tenant", tenant);
  return { metadata };
}

const message = (content: string) => ({ role: "user", content });

export function defineListConversationsSuite(label: string, base: TestServerOptions): void {
  describe(`ListConversations on ${label}`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer({ ...base, maxTurns: 3, resolveTenant: tenantFromHeader });
    });
    afterAll(() => server.close());

    /** Every page of a tenant's listing: ids in order, and the pages' sizes. */
    async function listAll(tenant: string, pageSize: number, onPage?: () => Promise<void>) {
      const ids: string[] = [];
      const sizes: number[] = [];
      let pageToken = "";
      do {
        const page = await server.client.listConversations({ pageSize, pageToken }, as(tenant));
        ids.push(...page.conversations.map((c) => c.conversationId));
        sizes.push(page.conversations.length);
        pageToken = page.nextPageToken;
        await onPage?.();
      } while (pageToken !== "");
      return { ids, sizes, sorted: [...ids].sort() };
    }

    async function appendEach(tenant: string, ids: readonly string[], chunk = 250): Promise<void> {
      for (let i = 0; i < ids.length; i += chunk) {
        await Promise.all(ids.slice(i, i + chunk).map((conversationId) => server.client.append({ conversationId, messages: [message(conversationId)] }, as(tenant))));
      }
    }

    it("lists each conversation once across pages, with its count and last append time; full pages until the last", async () => {
      const tenant = uniqueId("t");
      const ids = Array.from({ length: 50 }, (_, i) => `c${String(i).padStart(2, "0")}:x/${uniqueId()}`);
      await appendEach(tenant, ids);
      const before = Date.now();
      await server.client.append({ conversationId: ids[0]!, messages: [message("a"), message("b"), message("c"), message("d"), message("e"), message("f"), message("g")] }, as(tenant));
      const after = Date.now();
      const { ids: listed, sizes, sorted } = await listAll(tenant, 7);
      expect(sorted).toEqual([...ids].sort());
      expect(new Set(listed).size).toBe(listed.length);
      expect(sizes.slice(0, 7)).toEqual([7, 7, 7, 7, 7, 7, 7]);
      expect(sizes.slice(7).reduce((a, b) => a + b, 0)).toBe(1);
      const all = [];
      for await (const summary of server.client.allConversations(0, as(tenant))) all.push(summary);
      const first = all.find((summary) => summary.conversationId === ids[0]);
      // The window is 6 messages (max_turns 3): count is Count's.
      expect(first?.count).toBe(6n);
      const appendedMs = Number(first!.lastAppendTime!.seconds) * 1000 + first!.lastAppendTime!.nanos / 1e6;
      // Redis's clock or the server's: the same machine here, so within the call's time (1 s slack for clock granularity).
      expect(appendedMs).toBeGreaterThanOrEqual(before - 1000);
      expect(appendedMs).toBeLessThanOrEqual(after + 1000);
      expect(all.find((summary) => summary.conversationId === ids[1])?.count).toBe(1n);
    });

    it("does not list cleared, emptied or expired conversations; lists one holding only pinned messages", async () => {
      const tenant = uniqueId("t");
      const client = server.client;
      await client.append({ conversationId: "kept", messages: [message("k")] }, as(tenant));
      await client.append({ conversationId: "pinned-only", messages: [{ role: "system", content: "p", pinned: true }] }, as(tenant));
      await client.append({ conversationId: "cleared", messages: [message("c")] }, as(tenant));
      await client.clear({ conversationId: "cleared" }, as(tenant));
      const { lastSeq } = await client.append({ conversationId: "emptied", messages: [message("e")] }, as(tenant));
      await client.deleteMessages({ conversationId: "emptied", seqs: [lastSeq] }, as(tenant));
      await client.append({ conversationId: "replaced", messages: [message("r")] }, as(tenant));
      await client.replace({ conversationId: "replaced", messages: [] }, as(tenant));
      await client.append({ conversationId: "expiring", messages: [message("x")], ttl: { seconds: 1n, nanos: 0 } }, as(tenant));
      expect((await listAll(tenant, 100)).sorted).toEqual(["expiring", "kept", "pinned-only"]);
      await sleep(1200);
      const page = await client.listConversations({}, as(tenant));
      expect(page.conversations.map((c) => [c.conversationId, c.count]).sort()).toEqual([
        ["kept", 1n],
        ["pinned-only", 0n],
      ]);
      // Written again after a clear, or after a listing found them holding nothing: listed again.
      for (const conversationId of ["cleared", "emptied", "replaced"]) await client.append({ conversationId, messages: [message("again")] }, as(tenant));
      expect((await listAll(tenant, 2)).sorted).toEqual(["cleared", "emptied", "kept", "pinned-only", "replaced"]);
    });

    it("shows each tenant only its own conversations, under the ids it gave", async () => {
      const [a, b] = [uniqueId("ta"), uniqueId("tb")];
      await appendEach(a, ["shared-id", "a-only"]);
      await appendEach(b, ["shared-id", "b-only"]);
      expect((await listAll(a, 1)).sorted).toEqual(["a-only", "shared-id"]);
      expect((await listAll(b, 1)).sorted).toEqual(["b-only", "shared-id"]);
      const started = performance.now();
      expect((await listAll(uniqueId("tc"), 10)).ids).toEqual([]);
      console.log(`[list ${label}] an empty listing (every index bucket walked) took ${(performance.now() - started).toFixed(0)} ms`);
    });

    it("applies page_size rules: 0 = 100, larger than 1000 = 1000, negative = INVALID_ARGUMENT page_size", async () => {
      const tenant = uniqueId("t");
      await appendEach(tenant, Array.from({ length: 1001 }, (_, i) => `p${i}`));
      expect((await server.client.listConversations({ pageSize: 0 }, as(tenant))).conversations).toHaveLength(100);
      const capped = await server.client.listConversations({ pageSize: 5000 }, as(tenant));
      expect(capped.conversations).toHaveLength(1000);
      const rest = await server.client.listConversations({ pageSize: 5000, pageToken: capped.nextPageToken }, as(tenant));
      expect(rest.conversations).toHaveLength(1);
      const negative = await statusOf(server.client.listConversations({ pageSize: -1 }, as(tenant)));
      expect(negative.code).toBe(status.INVALID_ARGUMENT);
      expect(negative.details).toMatch(/^page_size/);
    });

    it("refuses page tokens it did not issue, damaged ones and another tenant's: INVALID_ARGUMENT page_token", async () => {
      const [a, b] = [uniqueId("ta"), uniqueId("tb")];
      await appendEach(a, ["one", "two", "three"]);
      const { nextPageToken } = await server.client.listConversations({ pageSize: 1 }, as(a));
      expect(nextPageToken).not.toBe("");
      const damaged = `${nextPageToken.slice(0, -2)}${nextPageToken.endsWith("AA") ? "BB" : "AA"}`;
      const forged = Buffer.from(JSON.stringify([1, 0, "one"])).toString("base64url");
      for (const [tenant, pageToken] of [
        [a, "not a token"],
        [a, damaged],
        [a, forged],
        [a, "x".repeat(2000)],
        [b, nextPageToken],
      ] as const) {
        const refused = await statusOf(server.client.listConversations({ pageSize: 1, pageToken }, as(tenant)));
        expect(refused.code).toBe(status.INVALID_ARGUMENT);
        expect(refused.details).toMatch(/^page_token/);
      }
      // The token still works for the tenant it was issued to, later too.
      expect((await server.client.listConversations({ pageSize: 5, pageToken: nextPageToken }, as(a))).conversations).toHaveLength(2);
    });

    it("5,000 conversations, page size 37, appends and clears running during the listing: none twice, none missing that existed throughout", { timeout: 180_000 }, async () => {
      const tenant = uniqueId("t");
      const other = uniqueId("other");
      const stable = Array.from({ length: 4000 }, (_, i) => `s${i}-${uniqueId()}`);
      const churn = Array.from({ length: 1000 }, (_, i) => `c${i}-${uniqueId()}`);
      await appendEach(tenant, [...stable, ...churn]);
      await appendEach(other, Array.from({ length: 300 }, (_, i) => `o${i}`));
      const created: string[] = [];
      let operations = 0;
      let listing = true;
      // Other callers, meanwhile: new conversations, clears (and re-creations) of churn ones, appends to stable ones, another tenant's writes.
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; listing; i++) {
          const id = `n${w}-${i}-${uniqueId()}`;
          const victim = churn[(i * 4 + w) % churn.length]!;
          await Promise.all([
            server.client.append({ conversationId: id, messages: [message(id)] }, as(tenant)),
            i % 2 === 0 ? server.client.clear({ conversationId: victim }, as(tenant)) : server.client.append({ conversationId: victim, messages: [message("back")] }, as(tenant)),
            server.client.append({ conversationId: stable[(i * 7 + w) % stable.length]!, messages: [message("more")] }, as(tenant)),
            server.client.append({ conversationId: `o-new-${w}-${i}`, messages: [message("o")] }, as(other)),
          ]);
          created.push(id);
          operations += 4;
        }
      });
      const { ids, sizes } = await listAll(tenant, 37, () => sleep(1));
      listing = false;
      await Promise.all(writers);
      const listed = new Set(ids);
      expect(ids.length - listed.size).toBe(0);
      expect(stable.filter((id) => !listed.has(id))).toEqual([]);
      const known = new Set([...stable, ...churn, ...created]);
      expect(ids.filter((id) => !known.has(id))).toEqual([]);
      expect(sizes.slice(0, -2).every((size) => size === 37)).toBe(true);
      // The writers really ran during the listing.
      expect(operations).toBeGreaterThan(200);
      console.log(`[list ${label}] ${ids.length} listed in ${sizes.length} pages while ${operations} writes ran (${created.length} new conversations)`);
    });
  });
}
