"""Retries of ChatMemoryMessageHistory.add_messages after a forced UNAVAILABLE store nothing twice.

These tests start their own Redis and ChatMemory server (the shared one must not lose its Redis):
Redis is frozen (SIGSTOP), so the server's Append times out against it and answers UNAVAILABLE
while the script stays queued in Redis's socket; when Redis resumes, the first attempt runs and
stores the batch, and the retry (same request_id) must store nothing. Needs `redis-server` and a
Node 22+ `node` on PATH and a built server (dist/src/main.js), as scripts/test-clients.sh provides.
"""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import grpc
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage, message_to_dict

from chatmemory.langchain import ChatMemoryMessageHistory

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT_MS = 300

TURN: list[BaseMessage] = [
    HumanMessage("Weather in Paris?"),
    AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
    ToolMessage("18 °C", tool_call_id="call_1", name="get_weather"),
    AIMessage("18 °C and sunny."),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """A redis-server and a ChatMemory server against it; `on_unavailable` sees each UNAVAILABLE the
    server logs, by method, as it is logged."""

    def __init__(self, work: Path) -> None:
        node = shutil.which("node")
        redis_server = shutil.which("redis-server")
        if node is None or redis_server is None or not (ROOT / "dist/src/main.js").exists():
            pytest.fail("needs node, redis-server and a built server (npm run build): run npm run test:clients")
        self.unavailable: list[str] = []
        self.on_unavailable: Callable[[str], None] = lambda _: None
        port = free_port()
        self.redis = subprocess.Popen(
            [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(work)],
            stdout=subprocess.DEVNULL,
        )
        env = dict(
            os.environ,
            CHATMEMORY_LISTEN="127.0.0.1:0",
            REDIS_URL=f"redis://127.0.0.1:{port}/0",
            CHATMEMORY_KEY_PREFIX=f"retry-{uuid.uuid4().hex[:8]}",
            CHATMEMORY_REDIS_TIMEOUT_MS=str(COMMAND_TIMEOUT_MS),
            CHATMEMORY_LOG_LEVEL="info",
        )
        self.server = subprocess.Popen([node, str(ROOT / "dist/src/main.js")], env=env, stdout=subprocess.PIPE, text=True)
        listening = threading.Event()
        self.address = ""
        assert self.server.stdout is not None
        threading.Thread(target=self._read_log, args=(self.server.stdout, listening), daemon=True).start()
        if not listening.wait(20):
            self.stop()
            pytest.fail("the ChatMemory server did not start")

    def _read_log(self, log: IO[str], listening: threading.Event) -> None:
        for line in log:
            try:
                entry: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            if str(entry.get("msg", "")).startswith("chatmemory listening"):
                self.address = str(entry["address"])
                listening.set()
            if entry.get("msg") == "call failed" and entry.get("code") == "UNAVAILABLE":
                method = str(entry.get("method", ""))
                self.unavailable.append(method)
                self.on_unavailable(method)

    def freeze_redis(self) -> None:
        self.redis.send_signal(signal.SIGSTOP)

    def resume_redis(self) -> None:
        self.redis.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume_redis()
        for process in (self.server, self.redis):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory() as work:
        started = Server(Path(work))
        try:
            yield started
        finally:
            started.stop()


def stored(history: ChatMemoryMessageHistory) -> list[dict[str, Any]]:
    return [message_to_dict(m) for m in history.messages]


def test_grpc_retry_after_unavailable_stores_the_turn_once(server: Server) -> None:
    """The first attempt meets a frozen Redis (UNAVAILABLE); Redis resumes as the server logs it, so
    the queued first attempt stores the turn, and the client's retry, same request_id, stores nothing."""
    history = ChatMemoryMessageHistory(f"retry-{uuid.uuid4().hex}", address=server.address, timeout=10)
    history.add_messages([HumanMessage("warm-up")])
    server.unavailable.clear()
    server.freeze_redis()
    server.on_unavailable = lambda _: server.resume_redis()
    try:
        history.add_messages(TURN)
    finally:
        server.on_unavailable = lambda _: None
        server.resume_redis()
    assert "chatmemory.v1.ChatMemory/Append" in server.unavailable, "no attempt met UNAVAILABLE: the test proved nothing"
    assert stored(history) == [message_to_dict(HumanMessage("warm-up"))] + [message_to_dict(m) for m in TURN]
    history.close()


def test_application_retry_after_the_call_failed_stores_the_turn_once(server: Server) -> None:
    """Every attempt meets a frozen Redis: add_messages raises UNAVAILABLE, though the attempts stay
    queued in Redis and run when it resumes. Calling add_messages again with the same batch reuses
    the request id, so the turn is stored once; a different batch gets a new id."""
    history = ChatMemoryMessageHistory(f"retry-{uuid.uuid4().hex}", address=server.address, timeout=10)
    history.add_messages([HumanMessage("warm-up")])
    server.freeze_redis()
    try:
        with pytest.raises(grpc.RpcError) as raised:
            history.add_messages(TURN)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.resume_redis()
    # The queued attempts ran once Redis resumed (the first stored the turn): wait until it shows.
    deadline = time.monotonic() + 5
    while len(history.messages) < 1 + len(TURN) and time.monotonic() < deadline:
        time.sleep(0.05)
    history.add_messages(TURN)
    assert stored(history) == [message_to_dict(HumanMessage("warm-up"))] + [message_to_dict(m) for m in TURN]
    # The remembered id is for that batch only: a new turn is stored.
    history.add_messages([HumanMessage("next")])
    assert len(history.messages) == 2 + len(TURN)
    history.close()


def test_async_application_retry_on_grpc_aio_stores_the_turn_once(server: Server) -> None:
    """The same through aadd_messages: the grpc.aio error is recognized and the id reused."""
    history = ChatMemoryMessageHistory(f"retry-{uuid.uuid4().hex}", address=server.address, timeout=10)

    async def run() -> None:
        await history.aadd_messages([HumanMessage("warm-up")])
        server.freeze_redis()
        try:
            with pytest.raises(grpc.RpcError) as raised:
                await history.aadd_messages(TURN)
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            server.resume_redis()
        for _ in range(100):
            if len(await history.aget_messages()) >= 1 + len(TURN):
                break
            await asyncio.sleep(0.05)
        await history.aadd_messages(TURN)
        read = await history.aget_messages()
        assert [message_to_dict(m) for m in read] == [message_to_dict(HumanMessage("warm-up"))] + [message_to_dict(m) for m in TURN]
        await history.aclose()

    asyncio.run(run())


def test_without_the_remembered_id_the_same_retry_would_store_twice(server: Server) -> None:
    """The control: a new history (no remembered id) retrying the same batch stores it again, so
    the test above can fail."""
    conversation = f"retry-{uuid.uuid4().hex}"
    first = ChatMemoryMessageHistory(conversation, address=server.address, timeout=10)
    first.add_messages(TURN)
    second = ChatMemoryMessageHistory(conversation, address=server.address, timeout=10)
    second.add_messages(TURN)
    assert len(first.messages) == 2 * len(TURN)
    first.close()
    second.close()
