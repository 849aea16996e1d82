/** ListConversations on the embedded store and on a single Redis server (the 6-node cluster: redis-cluster.test.ts). */
import { inject } from "vitest";
import { defineListConversationsSuite } from "./helpers/list-conversations-suite.js";

defineListConversationsSuite("the memory store", { store: "memory" });
defineListConversationsSuite("the redis store", { store: "redis", redisUrl: inject("redisUrl") });
