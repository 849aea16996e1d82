"""One client's channels for the framework adapters: a blocking channel for the sync methods and a
`grpc.aio` channel for the async ones, both with the wrapper's retry policy (`CHANNEL_OPTIONS`).

A `grpc.aio` channel belongs to the event loop it was made on, and frameworks call async methods
from whichever loop is running (a notebook's, `asyncio.run` per request, pytest's per test), so the
async channel is made on first use inside a loop and made again when the loop changes.
"""

from __future__ import annotations

import asyncio
import threading

import grpc
from grpc import aio

from chatmemory.memory import CHANNEL_OPTIONS, DEFAULT_ADDRESS, DEFAULT_TIMEOUT_SECONDS
from chatmemory.v1 import chatmemory_pb2_grpc


class Connection:
    """Stubs for one ChatMemory address; `close` (or `aclose`) releases the channels."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.address = address
        self.timeout = timeout
        self._lock = threading.Lock()
        self._channel: grpc.Channel | None = None
        self._stub: chatmemory_pb2_grpc.ChatMemoryStub | None = None
        self._aio_channel: aio.Channel | None = None
        self._aio_loop: asyncio.AbstractEventLoop | None = None
        self._aio_stub: chatmemory_pb2_grpc.ChatMemoryAsyncStub | None = None

    def stub(self) -> chatmemory_pb2_grpc.ChatMemoryStub:
        """The blocking stub, its channel made on first use."""
        with self._lock:
            if self._stub is None:
                self._channel = grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS)
                self._stub = chatmemory_pb2_grpc.ChatMemoryStub(self._channel)
            return self._stub

    def aio_stub(self) -> chatmemory_pb2_grpc.ChatMemoryAsyncStub:
        """The asyncio stub for the running event loop (call it inside a coroutine)."""
        loop = asyncio.get_running_loop()
        if self._aio_stub is None or self._aio_loop is not loop:
            # A channel made on another loop is dropped, not closed: it cannot be awaited from
            # this loop, and that loop is usually gone already.
            self._aio_channel = aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
            self._aio_loop = loop
            self._aio_stub = chatmemory_pb2_grpc.ChatMemoryStub(self._aio_channel)
        return self._aio_stub

    def close(self) -> None:
        """Closes the blocking channel (the async one closes with `aclose`, or with its loop)."""
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel = None
            self._stub = None

    async def aclose(self) -> None:
        """Closes both channels."""
        self.close()
        channel, loop = self._aio_channel, self._aio_loop
        self._aio_channel = self._aio_loop = self._aio_stub = None
        if channel is not None and loop is asyncio.get_running_loop():
            await channel.close()
