/** The package's public surface: the client, the generated types, and the server for embedding. */
export { ChatMemoryClient, createChatMemoryClient, DEFAULT_CHANNEL_OPTIONS, DEFAULT_SERVICE_CONFIG } from "./client.js";
export type { CallOptions, ChatMemoryCallError, ChatMemoryClientOptions } from "./client.js";
export * from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
export { createChatMemoryServer, HEALTH_SERVICE_NAMES } from "./server.js";
export type { ChatMemoryServer, ChatMemoryServerOptions } from "./server.js";
export type { ChatStore, StoredMessage } from "./store/chat-store.js";
export { MemoryChatStore } from "./store/memory-chat-store.js";
export { RedisChatStore } from "./store/redis-chat-store.js";
export { status } from "@grpc/grpc-js";
