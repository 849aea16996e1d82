/**
 * `chatmemory-client/langchain`: the LangChain.js chat history backed by ChatMemory. Needs the
 * optional peer dependency `@langchain/core` (1.x); the package's root entry never loads it.
 */
export { ChatMemoryMessageHistory } from "./message-history.js";
export type { AddMessagesOptions, ChatMemoryMessageHistoryOptions } from "./message-history.js";
export { EXTRA_KEY, fromElements, toElement } from "./message-mapping.js";
