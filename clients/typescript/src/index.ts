/**
 * The `chatmemory-client` package: what a caller of the service imports — the client, its
 * options and retry defaults, the generated message types and grpc-js's status codes. It
 * depends on @grpc/grpc-js and @bufbuild/protobuf only.
 */
export { ChatMemoryClient, createChatMemoryClient, DEFAULT_CHANNEL_OPTIONS, DEFAULT_SERVICE_CONFIG, FLOW_CONTROL_WINDOW_BYTES } from "./client.js";
export type { CallOptions, ChatMemoryCallError, ChatMemoryClientOptions, WatchOptions } from "./client.js";
export * from "../../../gen/ts/chatmemory/v1/chatmemory_pb.js";
export { Metadata, status } from "@grpc/grpc-js";
/** Timestamp (e.g. a message's `createdAt`) to Date, and back. */
export { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
