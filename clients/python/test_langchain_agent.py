"""The LangChain 1.x agent example (langchain_agent_example.py) against a live server: the agent's
input is the conversation loaded from ChatMemory, and each turn, tool call and result included,
is appended in one Append."""

from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import BaseMessage, message_to_dict

from chatmemory.langchain import ChatMemoryMessageHistory
from langchain_agent_example import ScriptedToolModel, get_weather, run_turn, scripted_model
from rpc_counting import CountingConnection


class RecordingModel(ScriptedToolModel):
    """The scripted model, remembering the messages of every call it gets."""

    seen: list[list[BaseMessage]] = []

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def dicts(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    return [message_to_dict(m) for m in messages]


def test_agent_turns_load_from_and_append_to_chatmemory(address: str, conversation_id: str) -> None:
    model = RecordingModel(messages=scripted_model().messages)
    model.seen = []
    agent = create_agent(model, tools=[get_weather], system_prompt="You answer weather questions.")
    connection = CountingConnection(address)
    history = ChatMemoryMessageHistory(conversation_id, connection=connection)
    try:
        first = run_turn(agent, history, "Weather in Paris?")
        assert [m.type for m in first] == ["human", "ai", "tool", "ai"]
        assert first[1].tool_calls[0]["args"] == {"city": "Paris"}  # type: ignore[attr-defined]
        assert first[2].content == "18 °C and sunny in Paris"
        assert connection.calls == ["GetHistory", "Append"], "a turn is one read and one Append"

        second = run_turn(agent, history, "What did I ask?")
        assert [m.type for m in second] == ["human", "ai"]
        assert connection.calls == ["GetHistory", "Append"] * 2

        # The model's last call saw the system prompt, the stored first turn (as read back from
        # ChatMemory), then the new question.
        last_input = model.seen[-1]
        assert last_input[0].type == "system"
        assert dicts(last_input[1:5]) == dicts(first)
        assert last_input[5].content == "What did I ask?"

        assert dicts(history.messages) == dicts(first + second)
    finally:
        history.clear()
        connection.close()
