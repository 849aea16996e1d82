"""A Connection whose blocking stub counts the RPCs it sends (real calls, only counted), for tests
that check how many round trips an adapter makes."""

from collections.abc import Callable
from typing import Any

import grpc

from chatmemory.connection import Connection
from chatmemory.v1 import chatmemory_pb2_grpc


class CountingConnection(Connection):
    """A Connection whose blocking stub counts the RPCs it sends, by method (real calls, counted)."""

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.calls: list[str] = []
        self._counted: chatmemory_pb2_grpc.ChatMemoryStub | None = None

    def stub(self) -> chatmemory_pb2_grpc.ChatMemoryStub:
        if self._counted is None:
            calls = self.calls

            class Counter(grpc.UnaryUnaryClientInterceptor):
                def intercept_unary_unary(
                    self, continuation: Callable[[Any, Any], Any], details: grpc.ClientCallDetails, request: Any
                ) -> Any:
                    calls.append(str(details.method).rsplit("/", 1)[-1])
                    return continuation(details, request)

            self._channel = grpc.intercept_channel(grpc.insecure_channel(self.address), Counter())
            self._counted = chatmemory_pb2_grpc.ChatMemoryStub(self._channel)
        return self._counted
