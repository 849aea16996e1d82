"""ChatMemory: the service's four RPCs under the method names of the Python `RedisChatMemory`
class (`append`, `get_history`, `clear`, `count`), so its callers switch by changing one import.

The difference callers see: the history lives in the ChatMemory service (window, TTL and key
prefix are the server's settings), and failures raise `grpc.RpcError` with a status code.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, TypedDict

import grpc
from google.protobuf import json_format

from chatmemory.v1 import chatmemory_pb2, chatmemory_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT_SECONDS = 5.0

# The TypeScript client's policy (src/client.ts): retry UNAVAILABLE (Redis down, a replica
# draining) up to 4 attempts with jittered backoff, through gRPC's standard service config rather
# than a loop of our own. Retries resend the same request: an Append with a request_id is stored
# once however often it is retried; without one, a retried Append may store its messages twice.
RETRY_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": "chatmemory.v1.ChatMemory"}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)

CHANNEL_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.service_config", RETRY_SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
    # Ping every 30 s while calls are in flight, so a dead connection fails within ~40 s; the
    # server accepts pings every 10 s or slower.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # Reconnect within about a second after a replica restarts, so the retries meet a live server.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class ToolCallFunction(TypedDict):
    name: str
    arguments: str


class ToolCall(TypedDict):
    """One tool call in the OpenAI shape: `{"id", "type": "function", "function": {"name", "arguments"}}`."""

    id: str
    type: str
    function: ToolCallFunction


class _RequiredFields(TypedDict):
    role: str
    content: str


class HistoryMessage(_RequiredFields, total=False):
    """One message as `get_history` returns it: the optional fields are present only when set."""

    name: str
    tool_call_id: str
    metadata: dict[str, str]
    tool_calls: list[ToolCall]
    id: str
    extra: dict[str, Any]
    seq: int
    pinned: bool
    token_count: int


class ConversationInfo(TypedDict):
    """One conversation as `list_conversations` yields it."""

    conversation_id: str
    count: int
    # The last Append or Replace (UTC); None when the server did not record it.
    last_append_time: datetime | None


class WatchStep(TypedDict):
    """One step of a watched conversation (see `ChatMemory.watch`)."""

    messages: list[HistoryMessage]
    reset: bool
    epoch: str


class ChatMemory:
    """A ChatMemory client with one shared channel; close it (or use `with`) when done."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        channel: grpc.Channel | None = None,
    ) -> None:
        """`timeout` is each call's deadline in seconds; pass `channel` for TLS or other options."""
        self._channel = channel if channel is not None else grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self._stub = chatmemory_pb2_grpc.ChatMemoryStub(self._channel)
        self._timeout = timeout

    def append(
        self,
        conversation_id: str,
        role: str,
        content: str,
        *,
        name: str = "",
        tool_call_id: str = "",
        metadata: Mapping[str, str] | None = None,
        request_id: str = "",
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
        pinned: bool = False,
        message_id: str = "",
        extra: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> int:
        """Appends one message; returns how many window messages the conversation holds after the trim.

        `request_id` (e.g. `str(uuid.uuid4())`, the same for every retry of this append) makes it
        idempotent: a repeat stores nothing new and returns the first call's count.
        `tool_calls` (assistant messages only) take the OpenAI shape, `{"id", "type": "function",
        "function": {"name", "arguments"}}`; `pinned=True` keeps the message (a system prompt, say)
        out of the window, never trimmed; `message_id` and `extra` (a JSON object) come back as
        given; `ttl` (seconds) makes the conversation expire that long after this append.
        """
        message = _message(
            {
                "role": role,
                "content": content,
                "name": name,
                "tool_call_id": tool_call_id,
                "metadata": metadata,
                "tool_calls": tool_calls,
                "pinned": pinned,
                "id": message_id,
                "extra": extra,
            }
        )
        request = chatmemory_pb2.AppendRequest(conversation_id=conversation_id, messages=[message], request_id=request_id)
        if ttl is not None:
            request.ttl.FromMilliseconds(max(1, round(ttl * 1000)))
        return self._stub.Append(request, timeout=self._timeout).count

    def replace(
        self,
        conversation_id: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        request_id: str = "",
        ttl: float | None = None,
    ) -> int:
        """Swaps the conversation's pinned messages and window for `messages`, atomically.

        Each message is a dict as `get_history` returns them (`role`, `content`, and optionally
        `name`, `tool_call_id`, `metadata`, `tool_calls`, `id`, `extra`, `pinned`); the pinned ones
        become the pinned set. Seqs continue; no messages empty the conversation. Returns the
        window's size after the swap.
        """
        request = chatmemory_pb2.ReplaceRequest(
            conversation_id=conversation_id, messages=[_message(m) for m in messages], request_id=request_id
        )
        if ttl is not None:
            request.ttl.FromMilliseconds(max(1, round(ttl * 1000)))
        return self._stub.Replace(request, timeout=self._timeout).count

    def delete_messages(self, conversation_id: str, seqs: Sequence[int]) -> list[HistoryMessage]:
        """Deletes messages by seq (window or pinned), atomically; returns the deleted ones."""
        request = chatmemory_pb2.DeleteMessagesRequest(conversation_id=conversation_id, seqs=list(seqs))
        response = self._stub.DeleteMessages(request, timeout=self._timeout)
        return [_as_dict(message) for message in response.messages]

    def get_history(
        self, conversation_id: str, limit: int = 0, *, max_tokens: int = 0, after_seq: int = 0, before_seq: int = 0
    ) -> list[HistoryMessage]:
        """The conversation's pinned messages, then its window, oldest first.

        `limit` > 0: only the newest `limit` window messages (pinned ones always come too);
        `max_tokens` > 0: only the newest window messages whose tokens, with the pinned ones', fit;
        `after_seq` / `before_seq`: only messages with a seq above / below them (paging).
        """
        request = chatmemory_pb2.GetHistoryRequest(
            conversation_id=conversation_id, limit=limit, max_tokens=max_tokens, after_seq=after_seq, before_seq=before_seq
        )
        response = self._stub.GetHistory(request, timeout=self._timeout)
        return [_as_dict(message) for message in response.messages]

    def watch(self, conversation_id: str, *, after_seq: int = 0, epoch: str = "") -> Generator[WatchStep, None, None]:
        """Follows the conversation live: yields a step at once, then one per Append, as they happen.

        A step is `{"messages": [...], "reset": bool, "epoch": str}`: new messages in seq order, or,
        with `reset` True, the whole conversation to replace what you hold (after a Replace,
        DeleteMessages or Clear, or when you fell behind). The stream has no deadline; it ends
        with an UNAVAILABLE `grpc.RpcError` when the server drains: watch again with the last
        `seq` you saw as `after_seq` and the last `epoch` to resume exactly. Close the generator
        (or break out of the loop) to stop.
        """
        request = chatmemory_pb2.WatchRequest(conversation_id=conversation_id, after_seq=after_seq, epoch=epoch)
        responses = self._stub.Watch(request)
        try:
            for response in responses:
                yield {
                    "messages": [_as_dict(message) for message in response.messages],
                    "reset": response.reset,
                    "epoch": response.epoch,
                }
        finally:
            responses.cancel()

    def clear(self, conversation_id: str) -> bool:
        """Deletes the conversation; True when it held anything."""
        return self._stub.Clear(chatmemory_pb2.ClearRequest(conversation_id=conversation_id), timeout=self._timeout).deleted

    def count(self, conversation_id: str) -> int:
        """Number of stored window messages, pinned ones not included (0 for an unknown or expired conversation)."""
        return self._stub.Count(chatmemory_pb2.CountRequest(conversation_id=conversation_id), timeout=self._timeout).count

    def list_conversations(self, *, page_size: int = 0) -> Iterator[ConversationInfo]:
        """Every conversation of the caller (its tenant's) that holds a message, one page per call.

        Each appears once; ones created or cleared meanwhile may or may not. `page_size` 0 = the
        server's default (100). Each page's call gets this client's timeout.
        """
        page_token = ""
        while True:
            request = chatmemory_pb2.ListConversationsRequest(page_size=page_size, page_token=page_token)
            response = self._stub.ListConversations(request, timeout=self._timeout)
            for summary in response.conversations:
                appended = summary.last_append_time.ToDatetime(tzinfo=timezone.utc) if summary.HasField("last_append_time") else None
                yield {"conversation_id": summary.conversation_id, "count": summary.count, "last_append_time": appended}
            page_token = response.next_page_token
            if not page_token:
                return

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ChatMemory:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _as_dict(message: chatmemory_pb2.Message) -> HistoryMessage:
    result: HistoryMessage = {"role": message.role, "content": message.content}
    if message.name:
        result["name"] = message.name
    if message.tool_call_id:
        result["tool_call_id"] = message.tool_call_id
    if message.metadata:
        result["metadata"] = dict(message.metadata)
    if message.tool_calls:
        result["tool_calls"] = [
            {"id": call.id, "type": call.type, "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    if message.id:
        result["id"] = message.id
    if message.HasField("extra"):
        result["extra"] = json_format.MessageToDict(message.extra)
    if message.seq:
        result["seq"] = message.seq
    if message.pinned:
        result["pinned"] = True
    if message.token_count:
        result["token_count"] = message.token_count
    return result


def _message(given: Mapping[str, Any]) -> chatmemory_pb2.Message:
    """A message dict (as get_history returns them) as the proto's Message."""
    message = chatmemory_pb2.Message(
        role=str(given["role"]),
        content=str(given.get("content", "")),
        name=str(given.get("name", "")),
        tool_call_id=str(given.get("tool_call_id", "")),
        metadata=dict(given.get("metadata") or {}),
        tool_calls=[_tool_call_message(call) for call in given.get("tool_calls") or []],
        id=str(given.get("id", "")),
        pinned=bool(given.get("pinned", False)),
    )
    if given.get("extra"):
        message.extra.update(dict(given["extra"]))
    return message


def _tool_call_message(call: Mapping[str, Any]) -> chatmemory_pb2.ToolCall:
    """A tool call in the OpenAI shape (`function` or another type's payload under its name) as the proto's."""
    kind = str(call.get("type") or "function")
    payload = call.get(kind) or {}
    return chatmemory_pb2.ToolCall(
        id=str(call.get("id", "")), type=kind, name=str(payload.get("name", "")), arguments=str(payload.get("arguments", ""))
    )
