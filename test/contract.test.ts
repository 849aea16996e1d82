/** The contract suite on the embedded store and on a single Redis server. */
import { inject } from "vitest";
import { defineContractSuite } from "./helpers/contract-suite.js";

defineContractSuite("the memory store", { store: "memory" });
defineContractSuite("the redis store", { store: "redis", redisUrl: inject("redisUrl") });
defineContractSuite("the redis store without the decoded-element cache", { store: "redis", redisUrl: inject("redisUrl"), decodeCacheMb: 0 });
