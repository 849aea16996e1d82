"""The generated Python stubs and the ChatMemory wrapper against a live server."""

import socket
import time
from collections.abc import Callable
from importlib import resources

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chatmemory import ChatMemory
from chatmemory.v1 import chatmemory_pb2 as pb
from chatmemory.v1 import chatmemory_pb2_grpc

TIMEOUT = 5.0


def test_append_get_history_count_clear(stub: chatmemory_pb2_grpc.ChatMemoryStub, conversation_id: str) -> None:
    before = time.time() - 1
    sent = [
        pb.Message(role="user", content="What is the capital of France?"),
        pb.Message(role="assistant", content="Paris. 巴黎 🗼", name="geo-bot", metadata={"model": "m1"}),
    ]
    appended = stub.Append(pb.AppendRequest(conversation_id=conversation_id, messages=sent), timeout=TIMEOUT)
    assert appended.count == 2

    history = stub.GetHistory(pb.GetHistoryRequest(conversation_id=conversation_id), timeout=TIMEOUT)
    assert len(history.messages) == 2
    for seq, (got, want) in enumerate(zip(history.messages, sent), start=1):
        assert got.seq == seq
        assert got.HasField("created_at")
        assert before <= got.created_at.ToMilliseconds() / 1000 <= time.time() + 1
        assert got.created_at.nanos % 1_000_000 == 0, "created_at has millisecond precision"
        without_time = pb.Message()
        without_time.CopyFrom(got)
        without_time.ClearField("created_at")
        without_time.ClearField("seq")
        assert without_time.token_count > 0
        without_time.ClearField("token_count")
        assert without_time == want

    newest = stub.GetHistory(pb.GetHistoryRequest(conversation_id=conversation_id, limit=1), timeout=TIMEOUT)
    assert [m.content for m in newest.messages] == ["Paris. 巴黎 🗼"]

    assert stub.Count(pb.CountRequest(conversation_id=conversation_id), timeout=TIMEOUT).count == 2
    assert stub.Clear(pb.ClearRequest(conversation_id=conversation_id), timeout=TIMEOUT).deleted is True
    assert stub.Count(pb.CountRequest(conversation_id=conversation_id), timeout=TIMEOUT).count == 0
    assert stub.Clear(pb.ClearRequest(conversation_id=conversation_id), timeout=TIMEOUT).deleted is False


INVALID_CALLS: dict[str, tuple[Callable[[chatmemory_pb2_grpc.ChatMemoryStub, str], object], str]] = {
    "bad conversation_id": (
        lambda stub, _: stub.Append(
            pb.AppendRequest(conversation_id="has spaces", messages=[pb.Message(role="user", content="hi")]), timeout=TIMEOUT
        ),
        "conversation_id",
    ),
    "bad role": (
        lambda stub, cid: stub.Append(
            pb.AppendRequest(
                conversation_id=cid,
                messages=[pb.Message(role="user", content="fine"), pb.Message(role="wizard", content="not a role")],
            ),
            timeout=TIMEOUT,
        ),
        "messages[1].role",
    ),
    "no messages": (lambda stub, cid: stub.Append(pb.AppendRequest(conversation_id=cid), timeout=TIMEOUT), "messages"),
    "negative limit": (
        lambda stub, cid: stub.GetHistory(pb.GetHistoryRequest(conversation_id=cid, limit=-1), timeout=TIMEOUT),
        "limit",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_CALLS))
def test_invalid_argument(stub: chatmemory_pb2_grpc.ChatMemoryStub, conversation_id: str, case: str) -> None:
    call, field = INVALID_CALLS[case]
    with pytest.raises(grpc.RpcError) as raised:
        call(stub, conversation_id)
    error = raised.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (error.details() or "")
    # A rejected batch stores nothing, not even its valid first message.
    assert stub.Count(pb.CountRequest(conversation_id=conversation_id), timeout=TIMEOUT).count == 0


def test_deadlines(stub: chatmemory_pb2_grpc.ChatMemoryStub, conversation_id: str) -> None:
    # A peer that accepts the connection and never answers (a hung server): the call ends at its
    # deadline rather than hanging. (A deadline that is over before the call is no test: grpcio
    # still sends the call, and a fast enough answer wins the race.)
    with socket.create_server(("127.0.0.1", 0)) as silent, grpc.insecure_channel(
        f"127.0.0.1:{silent.getsockname()[1]}"
    ) as channel:
        hung = chatmemory_pb2_grpc.ChatMemoryStub(channel)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as raised:
            hung.Count(pb.CountRequest(conversation_id=conversation_id), timeout=0.3)
        elapsed = time.monotonic() - started
        assert isinstance(raised.value, grpc.Call)
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert 0.25 <= elapsed < 3, elapsed
    # With time to spare the live server answers.
    assert stub.Count(pb.CountRequest(conversation_id=conversation_id), timeout=TIMEOUT).count == 0


def test_health(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "chatmemory.v1.ChatMemory"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as raised:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=TIMEOUT)
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_wrapper_has_the_python_class_methods(address: str, conversation_id: str) -> None:
    with ChatMemory(address) as memory:
        assert memory.append(conversation_id, "user", "Hello") == 1
        assert memory.append(conversation_id, "tool", "42", name="calc", tool_call_id="call-1", metadata={"k": "v"}) == 2
        # The same request_id again (a retry) stores nothing new and returns the first call's count.
        for _ in range(2):
            assert memory.append(conversation_id, "user", "once", request_id="retry-test-1") == 3
        assert memory.count(conversation_id) == 3
        history = memory.get_history(conversation_id)
        assert all(message.pop("token_count", 0) > 0 for message in history)
        assert history == [
            {"role": "user", "content": "Hello", "seq": 1},
            {"role": "tool", "content": "42", "name": "calc", "tool_call_id": "call-1", "metadata": {"k": "v"}, "seq": 2},
            {"role": "user", "content": "once", "seq": 3},
        ]
        assert memory.get_history(conversation_id, limit=1)[0]["content"] == "once"
        assert memory.clear(conversation_id) is True
        assert memory.count(conversation_id) == 0
        assert memory.get_history(conversation_id) == []
        with pytest.raises(grpc.RpcError) as raised:
            memory.append(conversation_id, "wizard", "not a role")
        assert isinstance(raised.value, grpc.Call)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_wrapper_round_trips_a_tool_calling_turn(address: str, conversation_id: str) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    with ChatMemory(address) as memory:
        memory.append(conversation_id, "system", "You are terse.", pinned=True)
        memory.append(conversation_id, "user", "Weather in Paris?", message_id="m-1")
        memory.append(conversation_id, "assistant", "", tool_calls=[call], extra={"usage": {"input_tokens": 12}, "ok": True})
        memory.append(conversation_id, "tool", "18C", tool_call_id="call_1", ttl=60)
        history = memory.get_history(conversation_id)
        tokens = [message.pop("token_count", 0) for message in history]
        assert all(count > 0 for count in tokens)
        assert history == [
            {"role": "system", "content": "You are terse.", "seq": 1, "pinned": True},
            {"role": "user", "content": "Weather in Paris?", "id": "m-1", "seq": 2},
            {"role": "assistant", "content": "", "tool_calls": [call], "extra": {"usage": {"input_tokens": 12}, "ok": True}, "seq": 3},
            {"role": "tool", "content": "18C", "tool_call_id": "call_1", "seq": 4},
        ]
        # Pinned messages are not part of the window's count, and always come first.
        assert memory.count(conversation_id) == 3
        # limit=1 would cut the window to the tool result alone: tool-safe reading drops it.
        assert [m["seq"] for m in memory.get_history(conversation_id, limit=1)] == [1]
        assert [m["seq"] for m in memory.get_history(conversation_id, limit=2)] == [1, 3, 4]
        assert [m["seq"] for m in memory.get_history(conversation_id, before_seq=4, limit=2)] == [1, 2, 3]
        assert [m["seq"] for m in memory.get_history(conversation_id, after_seq=2)] == [3, 4]
        # A budget of the pinned message and the newest two: the assistant's call and its result.
        budget = tokens[0] + tokens[2] + tokens[3]
        assert [m["seq"] for m in memory.get_history(conversation_id, max_tokens=budget)] == [1, 3, 4]
        with pytest.raises(grpc.RpcError) as raised:
            memory.append(conversation_id, "user", "no calls here", tool_calls=[call])
        assert isinstance(raised.value, grpc.Call)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "messages[0].tool_calls" in (raised.value.details() or "")


def test_wrapper_replaces_and_deletes(address: str, conversation_id: str) -> None:
    with ChatMemory(address) as memory:
        for content in ("one", "two", "three"):
            memory.append(conversation_id, "user", content)
        summary: list[dict[str, object]] = [
            {"role": "system", "content": "Be brief.", "pinned": True},
            {"role": "assistant", "content": "Summary: 1-3."},
        ]
        assert memory.replace(conversation_id, summary, request_id="compact-1") == 1
        history = memory.get_history(conversation_id)
        assert [(m["content"], m["seq"], m.get("pinned", False)) for m in history] == [("Be brief.", 4, True), ("Summary: 1-3.", 5, False)]
        deleted = memory.delete_messages(conversation_id, [5, 42])
        assert [(m["content"], m["seq"]) for m in deleted] == [("Summary: 1-3.", 5)]
        assert memory.count(conversation_id) == 0
        assert memory.delete_messages(conversation_id, [5]) == []


def test_wrapper_lists_conversations(address: str, conversation_id: str) -> None:
    with ChatMemory(address) as memory:
        memory.append(conversation_id, "user", "one")
        memory.append(conversation_id, "assistant", "two")
        before = time.time() - 1
        memory.append(conversation_id, "user", "three")
        # Page size 1: every conversation on the server, one per call, each once.
        listed = list(memory.list_conversations(page_size=1))
        ids = [info["conversation_id"] for info in listed]
        assert len(ids) == len(set(ids))
        mine = next(info for info in listed if info["conversation_id"] == conversation_id)
        assert mine["count"] == 3
        appended = mine["last_append_time"]
        assert appended is not None and before <= appended.timestamp() <= time.time() + 1
        memory.clear(conversation_id)
        assert conversation_id not in [info["conversation_id"] for info in memory.list_conversations()]
        with pytest.raises(grpc.RpcError) as raised:
            next(memory.list_conversations(page_size=-1))
        assert isinstance(raised.value, grpc.Call)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_wrapper_watches_a_conversation(address: str, conversation_id: str) -> None:
    with ChatMemory(address) as memory:
        steps = memory.watch(conversation_id)
        # The first step comes at once: nothing is stored yet.
        assert next(steps) == {"messages": [], "reset": False, "epoch": ""}
        memory.append(conversation_id, "user", "watched from Python")
        step = next(steps)
        assert step["reset"] is False
        assert [(m["seq"], m["content"]) for m in step["messages"]] == [(1, "watched from Python")]
        assert memory.replace(conversation_id, [{"role": "system", "content": "summary", "pinned": True}]) == 0
        reset = next(steps)
        assert reset["reset"] is True
        assert [(m["content"], m.get("pinned")) for m in reset["messages"]] == [("summary", True)]
        steps.close()
        # Resuming from the last seq and epoch seen sends only what came after.
        memory.append(conversation_id, "user", "after the resume")
        resumed = memory.watch(conversation_id, after_seq=2, epoch=reset["epoch"])
        assert [(m["seq"], m["content"]) for m in next(resumed)["messages"]] == [(3, "after the resume")]
        resumed.close()


def test_package_ships_type_stubs() -> None:
    generated = resources.files("chatmemory.v1")
    for stub_file in ("chatmemory_pb2.pyi", "chatmemory_pb2_grpc.pyi"):
        assert generated.joinpath(stub_file).is_file(), stub_file
    assert resources.files("chatmemory").joinpath("py.typed").is_file()
