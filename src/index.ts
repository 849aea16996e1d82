/**
 * The `chatmemory` package: the server, for embedding it in another Node process, with its stores
 * and the generated types. Callers of the service install `chatmemory-client` instead.
 */
export * from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
export { createChatMemoryServer, HEALTH_SERVICE_NAMES } from "./server.js";
export type { ChatMemoryServer, ChatMemoryServerOptions } from "./server.js";
export type { ChatStore, StoredMessage } from "./store/chat-store.js";
export { MemoryChatStore } from "./store/memory-chat-store.js";
export { RedisChatStore } from "./store/redis-chat-store.js";
export { status } from "@grpc/grpc-js";
