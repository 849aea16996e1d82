"""chatmemory.langchain.ChatMemoryMessageHistory against a live server, driven through LangChain's
own machinery (RunnableWithMessageHistory, the fake chat model, a tool) and compared with its
serializer (`message_to_dict`)."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tools import tool

from chatmemory.langchain import ChatMemoryMessageHistory
from chatmemory.v1 import chatmemory_pb2 as pb
from chatmemory.v1 import chatmemory_pb2_grpc
from rpc_counting import CountingConnection

FIXTURE = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "langchain-conversation.json"


def dicts(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    return [message_to_dict(m) for m in messages]


@pytest.fixture
def history(address: str, conversation_id: str) -> Iterator[ChatMemoryMessageHistory]:
    created = ChatMemoryMessageHistory(conversation_id, address=address)
    yield created
    created.clear()
    created.close()


def fixture_conversation() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["conversation"]
    return loaded


def test_fixture_messages_store_the_shared_elements_and_read_back_equal(
    history: ChatMemoryMessageHistory, address: str, conversation_id: str
) -> None:
    """The cases of docs/adapters.md (test/fixtures/langchain-conversation.json, shared with the
    LangChain.js adapter's tests): each message is stored as exactly the listed element."""
    cases = fixture_conversation()
    sent = messages_from_dict([case["message"] for case in cases])
    history.add_messages(sent)
    with grpc.insecure_channel(address) as channel:
        stored = chatmemory_pb2_grpc.ChatMemoryStub(channel).GetHistory(
            pb.GetHistoryRequest(conversation_id=conversation_id), timeout=5
        )
    assert len(stored.messages) == len(cases)
    for case, element in zip(cases, stored.messages):
        as_json = json_format.MessageToDict(element)
        for output_only in ("seq", "createdAt", "tokenCount"):
            as_json.pop(output_only, None)
        assert as_json == case["element"], case["message"]
    assert dicts(history.messages) == dicts(sent)


EVERY_CLASS: list[BaseMessage] = [
    SystemMessage("You are terse.", id="sys-1"),
    SystemMessage("Developer rules.", additional_kwargs={"__openai_role__": "developer"}),
    HumanMessage(
        [{"type": "text", "text": "What is this? "}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}],
        id="an id with spaces is kept in extra",
        name="alice",
    ),
    AIMessage(
        "",
        id="run-1",
        name="bot",
        tool_calls=[{"name": "get_weather", "args": {"city": "Zürich", "days": 2, "ratio": 1.5, "nested": {"l": [1, None, True]}}, "id": "call_1"}],
        invalid_tool_calls=[{"name": "get_forecast", "args": '{"city":', "id": "call_2", "error": "truncated JSON", "type": "invalid_tool_call"}],
        additional_kwargs={"refusal": None, "custom": {"deep": [1, 2.5, "x"]}},
        response_metadata={"model_name": "fake", "finish_reason": "tool_calls", "logprobs": None},
        usage_metadata={"input_tokens": 31, "output_tokens": 12, "total_tokens": 43, "input_token_details": {"cache_read": 0}},
    ),
    ToolMessage("18 °C", tool_call_id="call_1", name="get_weather", status="success", artifact={"raw": [18, "sunny"], "ok": True}),
    ToolMessage("station offline", tool_call_id="call_3", status="error"),
    # A field beyond the class's own (LangChain.js's tool() fills ToolMessage.metadata).
    ToolMessage("done", tool_call_id="call_4", metadata={"source": "js", "attempt": 1}),
    AIMessage("a call without an id", tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": None}]),
    ChatMessage(content="Cite the station next time.", role="critic"),
    ChatMessage(content="Noted.", role="assistant", name="reviewer"),
    FunctionMessage(content="{\"temp\": 18}", name="get_temperature"),
    HumanMessage("plain text, 日本語 🗼", additional_kwargs={"client": "web"}, response_metadata={"lang": "ja"}),
]


def test_every_message_class_round_trips_equal(history: ChatMemoryMessageHistory) -> None:
    history.add_messages(EVERY_CLASS)
    assert dicts(history.messages) == dicts(EVERY_CLASS)
    # Integral numbers come back as ints (the Struct holds doubles), as json.loads would give them.
    read = history.messages
    ai = read[3]
    assert isinstance(ai, AIMessage) and ai.usage_metadata is not None
    assert type(ai.usage_metadata["input_tokens"]) is int
    assert ai.tool_calls[0]["args"]["ratio"] == 1.5


def test_unparseable_arguments_beside_extra_lc_become_invalid_tool_calls(address: str, conversation_id: str) -> None:
    extra_ai = pb.Message(
        role="assistant",
        tool_calls=[pb.ToolCall(id="c1", name="f", arguments='{"a":1}'), pb.ToolCall(id="c2", name="g", arguments="[1]")],
    )
    extra_ai.extra.update({"lc": {"type": "ai", "invalid_tool_calls": [{"name": "h", "args": "{", "id": "c0", "error": "bad", "type": "invalid_tool_call"}]}})
    with grpc.insecure_channel(address) as channel:
        chatmemory_pb2_grpc.ChatMemoryStub(channel).Append(
            pb.AppendRequest(conversation_id=conversation_id, messages=[extra_ai]), timeout=5
        )
    history = ChatMemoryMessageHistory(conversation_id, address=address)
    try:
        assert dicts(history.messages) == dicts(
            [
                AIMessage(
                    "",
                    tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
                    invalid_tool_calls=[
                        {"name": "h", "args": "{", "id": "c0", "error": "bad", "type": "invalid_tool_call"},
                        {"name": "g", "args": "[1]", "id": "c2", "error": None, "type": "invalid_tool_call"},
                    ],
                )
            ]
        )
    finally:
        history.close()


def test_chunks_are_stored_as_their_message_class(history: ChatMemoryMessageHistory) -> None:
    chunk = AIMessageChunk(content="streamed", id="run-9", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}])
    history.add_messages([chunk])
    [read] = history.messages
    assert type(read) is AIMessage
    assert dicts([read]) == dicts([AIMessage("streamed", id="run-9", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}])])


def test_messages_written_by_other_clients_read_as_their_roles(address: str, conversation_id: str) -> None:
    with grpc.insecure_channel(address) as channel:
        chatmemory_pb2_grpc.ChatMemoryStub(channel).Append(
            pb.AppendRequest(
                conversation_id=conversation_id,
                messages=[
                    pb.Message(role="system", content="s"),
                    pb.Message(role="developer", content="d"),
                    pb.Message(role="user", content="u", name="alice", id="m-1"),
                    pb.Message(
                        role="assistant",
                        content="",
                        tool_calls=[
                            pb.ToolCall(id="c1", name="f", arguments='{"a":1}'),
                            pb.ToolCall(id="c2", name="g", arguments="not json"),
                        ],
                    ),
                    pb.Message(role="tool", content="r", tool_call_id="c1"),
                ],
            ),
            timeout=5,
        )
    history = ChatMemoryMessageHistory(conversation_id, address=address)
    try:
        assert dicts(history.messages) == dicts(
            [
                SystemMessage("s"),
                SystemMessage("d", additional_kwargs={"__openai_role__": "developer"}),
                HumanMessage("u", name="alice", id="m-1"),
                AIMessage(
                    "",
                    tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
                    invalid_tool_calls=[{"name": "g", "args": "not json", "id": "c2", "error": None, "type": "invalid_tool_call"}],
                ),
                ToolMessage("r", tool_call_id="c1"),
            ]
        )
    finally:
        history.close()


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"18 °C and sunny in {city}"


def test_runnable_with_message_history_multi_turn_with_tool_calls(address: str, conversation_id: str) -> None:
    """Three turns through RunnableWithMessageHistory: the model asks for a tool, gets its result,
    answers; each turn reads the conversation from ChatMemory and appends its input and output in
    one Append."""
    connection = CountingConnection(address)
    answers = iter(
        [
            AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
            AIMessage("Paris: 18 °C and sunny."),
            AIMessage("You asked about Paris."),
        ]
    )
    model = GenericFakeChatModel(messages=answers)
    seen: list[list[BaseMessage]] = []

    def record(prompt: Any) -> Any:
        seen.append(list(prompt.to_messages()))
        return prompt

    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer weather questions."), MessagesPlaceholder("history"), MessagesPlaceholder("input")]
    )

    def session(session_id: str) -> BaseChatMessageHistory:
        return ChatMemoryMessageHistory(session_id, address=address, connection=connection)

    chain = RunnableWithMessageHistory(
        prompt | RunnableLambda(record) | model,
        session,
        input_messages_key="input",
        history_messages_key="history",
    )
    config: RunnableConfig = {"configurable": {"session_id": conversation_id}}

    question = HumanMessage("Weather in Paris?")
    asked = chain.invoke({"input": [question]}, config)
    assert isinstance(asked, AIMessage) and asked.tool_calls
    result = get_weather.invoke(asked.tool_calls[0])
    assert isinstance(result, ToolMessage)
    answered = chain.invoke({"input": [result]}, config)
    follow_up = HumanMessage("What did I ask?")
    last = chain.invoke({"input": [follow_up]}, config)

    expected = [question, asked, result, answered, follow_up, last]
    history = ChatMemoryMessageHistory(conversation_id, address=address)
    try:
        assert dicts(history.messages) == dicts(expected)
        # The model saw the system prompt, the stored conversation, then the new input.
        assert [dicts(s[1:]) for s in seen] == [dicts(expected[:1]), dicts(expected[:3]), dicts(expected[:5])]
        # Each turn: one GetHistory, then one Append with the input and the output.
        assert connection.calls == ["GetHistory", "Append"] * 3
        assert [m.type for m in history.messages] == ["human", "ai", "tool", "ai", "human", "ai"]
    finally:
        history.clear()
        history.close()
        connection.close()


def test_async_methods_use_grpc_aio_not_a_thread(address: str, conversation_id: str) -> None:
    """ainvoke goes through aget_messages and aadd_messages; the blocking channel is never made,
    so nothing fell back to the executor (which would call the sync methods)."""
    history = ChatMemoryMessageHistory(conversation_id, address=address)
    model = GenericFakeChatModel(messages=iter([AIMessage("one"), AIMessage("two")]))
    chain = RunnableWithMessageHistory(model, lambda _: history)
    config: RunnableConfig = {"configurable": {"session_id": conversation_id}}

    async def run() -> list[BaseMessage]:
        await chain.ainvoke([HumanMessage("first")], config)
        await chain.ainvoke([HumanMessage("second")], config)
        read = await history.aget_messages()
        await history.aclear()
        assert await history.aget_messages() == []
        await history.aclose()
        return read

    read = asyncio.run(run())
    assert [m.content for m in read] == ["first", "one", "second", "two"]
    assert history._connection._stub is None, "a sync method ran: the executor fallback was used"


def test_async_channel_follows_the_running_loop(address: str, conversation_id: str) -> None:
    """Each asyncio.run is a new event loop; the history keeps working across them."""
    history = ChatMemoryMessageHistory(conversation_id, address=address)
    asyncio.run(history.aadd_messages([HumanMessage("loop one")]))
    asyncio.run(history.aadd_messages([AIMessage("loop two")]))
    assert [m.content for m in asyncio.run(history.aget_messages())] == ["loop one", "loop two"]
    asyncio.run(history.aclear())
    history.close()


def test_messages_setter_replaces_and_ttl_expires(address: str, conversation_id: str) -> None:
    history = ChatMemoryMessageHistory(conversation_id, address=address, ttl=0.3)
    history.add_messages([HumanMessage("old")])
    history.messages = [SystemMessage("fresh start"), HumanMessage("new")]
    assert [m.content for m in history.messages] == ["fresh start", "new"]
    deadline = asyncio.run(_wait_until_empty(history, 5.0))
    assert deadline, "the conversation did not expire after its ttl"
    history.close()


async def _wait_until_empty(history: ChatMemoryMessageHistory, seconds: float) -> bool:
    for _ in range(int(seconds / 0.1)):
        if not await history.aget_messages():
            return True
        await asyncio.sleep(0.1)
    return False


def test_bad_input_is_invalid_argument_and_stores_nothing(history: ChatMemoryMessageHistory, address: str) -> None:
    too_long = "x" * (1024 * 1024 + 1)
    with pytest.raises(grpc.RpcError) as raised:
        history.add_messages([HumanMessage("fine"), AIMessage(too_long)])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[1]" in str(raised.value.details())
    assert history.messages == []
    bad_id = ChatMemoryMessageHistory("has spaces", address=address)
    with pytest.raises(grpc.RpcError) as raised:
        bad_id.add_messages([HumanMessage("hi")])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_id.close()
    # A value JSON cannot hold fails before anything is sent.
    with pytest.raises(ValueError):
        history.add_messages([HumanMessage("nan", additional_kwargs={"score": float("nan")})])
    assert history.messages == []
