"""ChatMemory under a LangChain 1.x agent (`create_agent`), against the server at $CHATMEMORY_ADDRESS
(default 127.0.0.1:50051): each turn loads the conversation from ChatMemory as the agent's input
messages, runs the agent (a model that calls a tool, then answers), and appends the whole new turn
— the question, the tool call, the tool's result, the answer — in one Append.

The model is LangChain's fake chat model with scripted answers, so the example runs offline;
swap in a real one (`init_chat_model("openai:gpt-5")`) and nothing else changes.
Needs `pip install 'chatmemory-client[langchain]' langchain`.
"""

import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool

from chatmemory.langchain import ChatMemoryMessageHistory


def run_turn(agent: Any, history: ChatMemoryMessageHistory, question: str) -> list[BaseMessage]:
    """One turn: the stored conversation in, the new messages out and appended (one Append)."""
    before = history.messages
    asked = HumanMessage(question)
    result = agent.invoke({"messages": [*before, asked]})
    turn: list[BaseMessage] = [asked, *result["messages"][len(before) + 1 :]]
    history.add_messages(turn)
    return turn


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"18 °C and sunny in {city}"


class ScriptedToolModel(GenericFakeChatModel):
    """LangChain's fake chat model plays scripted answers; agents bind tools to their model, which
    the fake does not implement, so binding returns the model unchanged."""

    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self


def scripted_model() -> ScriptedToolModel:
    return ScriptedToolModel(
        messages=iter(
            [
                AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
                AIMessage("Paris: 18 °C and sunny."),
                AIMessage("You asked about the weather in Paris."),
            ]
        )
    )


def main() -> None:
    address = os.environ.get("CHATMEMORY_ADDRESS", "127.0.0.1:50051")
    agent = create_agent(scripted_model(), tools=[get_weather], system_prompt="You answer weather questions.")
    history = ChatMemoryMessageHistory(f"py-agent-{uuid.uuid4().hex}", address=address)
    for question in ["Weather in Paris?", "What did I ask?"]:
        turn = run_turn(agent, history, question)
        print(f"turn of {len(turn)} messages:", " -> ".join(m.type for m in turn))
    print("stored:", " ".join(m.type for m in history.messages))
    history.clear()
    history.close()


if __name__ == "__main__":
    main()
