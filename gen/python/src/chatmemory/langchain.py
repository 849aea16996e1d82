"""LangChain chat history on ChatMemory: `ChatMemoryMessageHistory` is a `BaseChatMessageHistory`
(for `RunnableWithMessageHistory`, or an agent's input messages). Needs `chatmemory-client[langchain]`.

`add_messages` is one Append (a turn is stored atomically, never interleaved with another
replica's) with a request id; the async methods use a `grpc.aio` channel, not a thread. Messages
map to the service's `Message` as docs/adapters.md says, identically to the LangChain.js adapter.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc import aio
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict

from chatmemory.connection import Connection
from chatmemory.langchain_messages import message_from_proto, message_to_proto
from chatmemory.memory import DEFAULT_ADDRESS, DEFAULT_TIMEOUT_SECONDS
from chatmemory.v1 import chatmemory_pb2 as pb

# Failures after which the batch may have been stored: the next equal batch reuses its request id.
_MAYBE_STORED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)


class ChatMemoryMessageHistory(BaseChatMessageHistory):
    """One ChatMemory conversation as a LangChain chat message history.

    `messages` is what the service holds (the pinned messages, then the window); `limit` and
    `max_tokens` narrow it as GetHistory does (e.g. to fit a model's context). `ttl` (seconds)
    makes the conversation expire that long after each write; `timeout` is each call's deadline
    in seconds. Pass `connection` to share one client's channels between histories (its address
    and timeout then apply, and `close` leaves it open).
    """

    def __init__(
        self,
        conversation_id: str,
        *,
        address: str = DEFAULT_ADDRESS,
        ttl: float | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        limit: int = 0,
        max_tokens: int = 0,
        connection: Connection | None = None,
        request_id_factory: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.ttl = ttl
        self.limit = limit
        self.max_tokens = max_tokens
        self._owns_connection = connection is None
        self._connection = connection if connection is not None else Connection(address, timeout=timeout)
        self._timeout = self._connection.timeout
        self._new_request_id = request_id_factory
        # The last batch whose Append failed in a way that may have stored it, and its request id.
        self._unconfirmed: tuple[list[dict[str, Any]], str] | None = None

    # --- sync

    @property
    def messages(self) -> list[BaseMessage]:
        """The conversation as the service holds it (GetHistory)."""
        response = self._connection.stub().GetHistory(self._history_request(), timeout=self._timeout)
        return [message_from_proto(m) for m in response.messages]

    @messages.setter
    def messages(self, messages: Sequence[BaseMessage]) -> None:
        """Replaces the whole conversation with `messages`, atomically (Replace)."""
        request = pb.ReplaceRequest(conversation_id=self.conversation_id, messages=[message_to_proto(m) for m in messages])
        self._set_ttl(request)
        self._connection.stub().Replace(request, timeout=self._timeout)

    def add_messages(self, messages: Sequence[BaseMessage], *, request_id: str | None = None) -> None:
        """Appends `messages` in one Append (nothing for an empty sequence).

        The request carries `request_id` (default: a new one per batch; gRPC's retries of
        UNAVAILABLE resend it). If the call fails in a way that may have stored the batch, calling
        again with an equal batch reuses the id, so the retry stores nothing twice.
        """
        if not messages:
            return
        request, batch = self._append_request(messages, request_id)
        try:
            self._connection.stub().Append(request, timeout=self._timeout)
        except grpc.RpcError as error:
            self._remember_failure(error, batch, request.request_id)
            raise
        self._unconfirmed = None

    def clear(self) -> None:
        """Deletes the conversation (Clear); the id can be used again at once."""
        self._connection.stub().Clear(pb.ClearRequest(conversation_id=self.conversation_id), timeout=self._timeout)

    # --- async (grpc.aio)

    async def aget_messages(self) -> list[BaseMessage]:
        response = await self._connection.aio_stub().GetHistory(self._history_request(), timeout=self._timeout)
        return [message_from_proto(m) for m in response.messages]

    async def aadd_messages(self, messages: Sequence[BaseMessage], *, request_id: str | None = None) -> None:
        """`add_messages` on the asyncio channel."""
        if not messages:
            return
        request, batch = self._append_request(messages, request_id)
        try:
            await self._connection.aio_stub().Append(request, timeout=self._timeout)
        except grpc.RpcError as error:
            self._remember_failure(error, batch, request.request_id)
            raise
        self._unconfirmed = None

    async def aclear(self) -> None:
        await self._connection.aio_stub().Clear(pb.ClearRequest(conversation_id=self.conversation_id), timeout=self._timeout)

    def close(self) -> None:
        if self._owns_connection:
            self._connection.close()

    async def aclose(self) -> None:
        if self._owns_connection:
            await self._connection.aclose()

    # --- requests

    def _history_request(self) -> pb.GetHistoryRequest:
        return pb.GetHistoryRequest(conversation_id=self.conversation_id, limit=self.limit, max_tokens=self.max_tokens)

    def _append_request(
        self, messages: Sequence[BaseMessage], request_id: str | None
    ) -> tuple[pb.AppendRequest, list[dict[str, Any]]]:
        batch = [message_to_dict(m) for m in messages]
        if request_id is None:
            unconfirmed = self._unconfirmed
            request_id = unconfirmed[1] if unconfirmed is not None and unconfirmed[0] == batch else self._new_request_id()
        request = pb.AppendRequest(
            conversation_id=self.conversation_id, messages=[message_to_proto(m) for m in messages], request_id=request_id
        )
        self._set_ttl(request)
        return request, batch

    def _set_ttl(self, request: pb.AppendRequest | pb.ReplaceRequest) -> None:
        if self.ttl is not None:
            request.ttl.FromMilliseconds(max(1, round(self.ttl * 1000)))

    def _remember_failure(self, error: grpc.RpcError, batch: list[dict[str, Any]], request_id: str) -> None:
        code = error.code() if isinstance(error, (grpc.Call, aio.AioRpcError)) else None
        self._unconfirmed = (batch, request_id) if code in _MAYBE_STORED else None


__all__ = ["ChatMemoryMessageHistory"]
