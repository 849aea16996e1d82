"""LlamaIndex chat store on ChatMemory: `ChatMemoryChatStore` is a `BaseChatStore` (so it is a
`ChatMemoryBuffer`'s `chat_store`), one conversation per key. Needs `chatmemory-client[llama-index]`.

Each method is one or two RPCs; the async variants use a `grpc.aio` channel, not a thread.
A `ChatMessage` maps to one stored message: its role (LlamaIndex's `chatbot` and `model` are
stored as `assistant`, `function` as `tool`, the original kept in `extra`), its text, and
`additional_kwargs`' `tool_calls` (OpenAI shape), `tool_call_id` and `name` to the message's own
fields; everything else (other kwargs, non-text blocks) goes to `extra["llama_index"]`, so a
message reads back equal (`model_dump(mode="json")`). See docs/adapters-python.md.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.storage.chat_store.base import BaseChatStore

from chatmemory.connection import Connection
from chatmemory.memory import DEFAULT_ADDRESS, DEFAULT_TIMEOUT_SECONDS
from chatmemory.v1 import chatmemory_pb2 as pb

# Where a ChatMessage's remaining fields go inside Message.extra.
EXTRA_KEY = "llama_index"
# LlamaIndex roles the service does not take, and the role they are stored under.
_STORED_ROLE = {MessageRole.CHATBOT: "assistant", MessageRole.MODEL: "assistant", MessageRole.FUNCTION: "tool"}
# Reads the newest window message exactly (a range read; a `limit` read alone may drop a leading
# tool message).
_NEWEST_SEQ = 2**63 - 1


class ChatMemoryChatStore(BaseChatStore):
    """A LlamaIndex `BaseChatStore` whose keys are ChatMemory conversation ids.

    `get_messages` returns what the service holds: the pinned messages and the window (the server's
    `max_turns * 2` newest messages), so older messages leave as the conversation grows.
    `ttl` (seconds) makes each written conversation expire that long after its last write.
    """

    address: str = DEFAULT_ADDRESS
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    ttl: float | None = None
    # ListConversations page size for get_keys (the server caps it at 1000).
    keys_page_size: int = 1000
    _connection: Connection = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._connection = Connection(self.address, timeout=self.timeout)

    @classmethod
    def class_name(cls) -> str:
        return "ChatMemoryChatStore"

    def close(self) -> None:
        self._connection.close()

    async def aclose(self) -> None:
        await self._connection.aclose()

    # --- sync

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replaces the conversation with `messages`, atomically (Replace)."""
        self._connection.stub().Replace(self._replace_request(key, messages), timeout=self.timeout)

    def get_messages(self, key: str) -> list[ChatMessage]:
        response = self._connection.stub().GetHistory(pb.GetHistoryRequest(conversation_id=key), timeout=self.timeout)
        return [message_from_proto(m) for m in response.messages]

    def add_message(self, key: str, message: ChatMessage) -> None:
        """Appends one message (Append)."""
        self._connection.stub().Append(self._append_request(key, message), timeout=self.timeout)

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Deletes the conversation (Clear); returns what it held, None when it held nothing."""
        held = self.get_messages(key)
        self._connection.stub().Clear(pb.ClearRequest(conversation_id=key), timeout=self.timeout)
        return held or None

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Deletes the message at position `idx` of `get_messages(key)`; None when there is none."""
        stub = self._connection.stub()
        history = stub.GetHistory(pb.GetHistoryRequest(conversation_id=key), timeout=self.timeout)
        seq = _seq_at(history.messages, idx)
        if seq is None:
            return None
        deleted = stub.DeleteMessages(pb.DeleteMessagesRequest(conversation_id=key, seqs=[seq]), timeout=self.timeout)
        return _first(deleted.messages)

    def delete_last_message(self, key: str) -> ChatMessage | None:
        stub = self._connection.stub()
        newest = stub.GetHistory(_newest_request(key), timeout=self.timeout)
        seq = _seq_at(newest.messages, -1)
        if seq is None:
            return None
        deleted = stub.DeleteMessages(pb.DeleteMessagesRequest(conversation_id=key, seqs=[seq]), timeout=self.timeout)
        return _first(deleted.messages)

    def get_keys(self) -> list[str]:
        """Every conversation that holds a message (ListConversations, all pages)."""
        keys: list[str] = []
        token = ""
        while True:
            page = self._connection.stub().ListConversations(
                pb.ListConversationsRequest(page_size=self.keys_page_size, page_token=token), timeout=self.timeout
            )
            keys.extend(c.conversation_id for c in page.conversations)
            token = page.next_page_token
            if not token:
                return keys

    # --- async (grpc.aio)

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        await self._connection.aio_stub().Replace(self._replace_request(key, messages), timeout=self.timeout)

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        response = await self._connection.aio_stub().GetHistory(
            pb.GetHistoryRequest(conversation_id=key), timeout=self.timeout
        )
        return [message_from_proto(m) for m in response.messages]

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        await self._connection.aio_stub().Append(self._append_request(key, message), timeout=self.timeout)

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        held = await self.aget_messages(key)
        await self._connection.aio_stub().Clear(pb.ClearRequest(conversation_id=key), timeout=self.timeout)
        return held or None

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        stub = self._connection.aio_stub()
        history = await stub.GetHistory(pb.GetHistoryRequest(conversation_id=key), timeout=self.timeout)
        seq = _seq_at(history.messages, idx)
        if seq is None:
            return None
        deleted = await stub.DeleteMessages(
            pb.DeleteMessagesRequest(conversation_id=key, seqs=[seq]), timeout=self.timeout
        )
        return _first(deleted.messages)

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        stub = self._connection.aio_stub()
        newest = await stub.GetHistory(_newest_request(key), timeout=self.timeout)
        seq = _seq_at(newest.messages, -1)
        if seq is None:
            return None
        deleted = await stub.DeleteMessages(
            pb.DeleteMessagesRequest(conversation_id=key, seqs=[seq]), timeout=self.timeout
        )
        return _first(deleted.messages)

    async def aget_keys(self) -> list[str]:
        keys: list[str] = []
        token = ""
        while True:
            page = await self._connection.aio_stub().ListConversations(
                pb.ListConversationsRequest(page_size=self.keys_page_size, page_token=token), timeout=self.timeout
            )
            keys.extend(c.conversation_id for c in page.conversations)
            token = page.next_page_token
            if not token:
                return keys

    # --- requests

    def _append_request(self, key: str, message: ChatMessage) -> pb.AppendRequest:
        request = pb.AppendRequest(conversation_id=key, messages=[message_to_proto(message)])
        if self.ttl is not None:
            request.ttl.FromMilliseconds(max(1, round(self.ttl * 1000)))
        return request

    def _replace_request(self, key: str, messages: list[ChatMessage]) -> pb.ReplaceRequest:
        request = pb.ReplaceRequest(conversation_id=key, messages=[message_to_proto(m) for m in messages])
        if self.ttl is not None:
            request.ttl.FromMilliseconds(max(1, round(self.ttl * 1000)))
        return request


def _newest_request(key: str) -> pb.GetHistoryRequest:
    return pb.GetHistoryRequest(conversation_id=key, limit=1, before_seq=_NEWEST_SEQ)


def _seq_at(messages: Any, idx: int) -> int | None:
    """The seq of the message at `idx` (list semantics), None when out of range or without a seq."""
    try:
        seq = int(messages[idx].seq)
    except IndexError:
        return None
    return seq or None


def _first(messages: Any) -> ChatMessage | None:
    return message_from_proto(messages[0]) if len(messages) else None


def message_to_proto(message: ChatMessage) -> pb.Message:
    """A LlamaIndex ChatMessage as the service's Message (see the module's docstring)."""
    dumped = message.model_dump(mode="json")
    kwargs: dict[str, Any] = dict(dumped.get("additional_kwargs") or {})
    role = MessageRole(message.role)
    stored_role = _STORED_ROLE.get(role, role.value)
    proto = pb.Message(role=stored_role, content=message.content or "")
    rest: dict[str, Any] = {}
    if stored_role != role.value:
        rest["role"] = role.value
    if isinstance(kwargs.get("tool_call_id"), str):
        proto.tool_call_id = kwargs.pop("tool_call_id")
    if isinstance(kwargs.get("name"), str):
        proto.name = kwargs.pop("name")
    calls = kwargs.get("tool_calls")
    if stored_role == "assistant" and isinstance(calls, list) and _openai_tool_calls(calls):
        kwargs.pop("tool_calls")
        for call in calls:
            function = call["function"]
            proto.tool_calls.add(id=call["id"], type=call["type"], name=function["name"], arguments=function["arguments"])
    if kwargs:
        rest["additional_kwargs"] = kwargs
    blocks = message.blocks
    if not (len(blocks) == 1 and blocks[0] == TextBlock(text=getattr(blocks[0], "text", ""))):
        rest["blocks"] = dumped["blocks"]
    if rest:
        proto.extra.update({EXTRA_KEY: rest})
    return proto


def message_from_proto(message: pb.Message) -> ChatMessage:
    """The service's Message as a LlamaIndex ChatMessage (written by this adapter or any other client)."""
    extra = json_format.MessageToDict(message.extra) if message.HasField("extra") else {}
    rest = extra.get(EXTRA_KEY)
    if not isinstance(rest, dict):
        rest = {}
    kwargs: dict[str, Any] = dict(rest.get("additional_kwargs") or {})
    if message.tool_call_id:
        kwargs["tool_call_id"] = message.tool_call_id
    if message.name:
        kwargs["name"] = message.name
    if message.tool_calls:
        kwargs["tool_calls"] = [
            {"id": c.id, "type": c.type, "function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
        ]
    role = str(rest.get("role") or message.role)
    blocks = rest.get("blocks")
    if isinstance(blocks, list):
        return ChatMessage(role=_role(role), blocks=blocks, additional_kwargs=kwargs)
    return ChatMessage(role=_role(role), content=message.content, additional_kwargs=kwargs)


def _role(role: str) -> MessageRole:
    try:
        return MessageRole(role)
    except ValueError:
        # Another program's role (the service returns what it finds): keep the text as a user turn.
        return MessageRole.USER


def _openai_tool_calls(calls: Any) -> bool:
    """True for a list of tool calls in the OpenAI shape that the Message's fields hold exactly."""
    if not isinstance(calls, list) or not calls:
        return False
    for call in calls:
        if not isinstance(call, dict) or set(call) != {"id", "type", "function"}:
            return False
        function = call["function"]
        if not isinstance(function, dict) or set(function) != {"name", "arguments"}:
            return False
        if not all(isinstance(v, str) and v for v in (call["id"], call["type"], function["name"])):
            return False
        if not isinstance(function["arguments"], str):
            return False
    return True


__all__ = ["ChatMemoryChatStore", "message_from_proto", "message_to_proto"]
