"""Python client for the ChatMemory gRPC service.

- `chatmemory.v1`: the generated messages (`chatmemory_pb2`) and gRPC stubs (`chatmemory_pb2_grpc`).
- `chatmemory.ChatMemory`: a small wrapper with the Python `RedisChatMemory` class's method names.
- `chatmemory.langchain.ChatMemoryMessageHistory` (extra `[langchain]`) and
  `chatmemory.llama_index.ChatMemoryChatStore` (extra `[llama-index]`): framework adapters, loaded
  only when imported.
"""

from chatmemory.memory import CHANNEL_OPTIONS, RETRY_SERVICE_CONFIG, ChatMemory, HistoryMessage, WatchStep

__all__ = ["CHANNEL_OPTIONS", "RETRY_SERVICE_CONFIG", "ChatMemory", "HistoryMessage", "WatchStep"]
