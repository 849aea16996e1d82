"""The Python RedisChatMemory class and this service on one Redis, both ways, with the messages LLM
APIs have: the class reads tool calls in OpenAI's shape from what the server stored (and never
sees pinned messages), and the server reads what the class wrote (seq 0, no created_at).

The class is the benchmark's runnable copy of shared/reference (bench/python/redis_chat_memory.py),
loaded from its file; scripts/test-clients.sh exports the Redis URL and key prefix the server uses.
"""

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from chatmemory import ChatMemory


def python_class() -> Any:
    path = Path(__file__).resolve().parents[2] / "bench" / "python" / "redis_chat_memory.py"
    spec = importlib.util.spec_from_file_location("redis_chat_memory", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up by name while they are made.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    config = module.ChatMemoryConfig(max_turns=10, key_prefix=os.environ["CHATMEMORY_TEST_KEY_PREFIX"])
    return module.RedisChatMemory(url=os.environ["CHATMEMORY_TEST_REDIS_URL"], config=config)


@pytest.fixture
def memory(address: str) -> Any:
    if not os.environ.get("CHATMEMORY_TEST_REDIS_URL"):
        raise pytest.UsageError("CHATMEMORY_TEST_REDIS_URL is not set: run these tests with npm run test:clients")
    with ChatMemory(address) as client:
        yield client


def test_the_class_reads_tool_calls_in_openai_shape_and_not_pinned_messages(memory: ChatMemory, conversation_id: str) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    memory.append(conversation_id, "system", "You are terse.", pinned=True)
    memory.append(conversation_id, "user", "Weather in Paris?")
    memory.append(conversation_id, "assistant", "", tool_calls=[call], extra={"k": [1, None]})
    memory.append(conversation_id, "tool", "18C", tool_call_id="call_1")
    history = python_class().get_history(conversation_id)
    # What an LLM API takes, straight from the class: role, content, tool_calls, tool_call_id.
    assert [{k: m[k] for k in ("role", "content", "tool_calls", "tool_call_id") if k in m} for m in history] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "18C", "tool_call_id": "call_1"},
    ]
    assert [m["seq"] for m in history] == [2, 3, 4]
    assert history[1]["extra"] == {"k": [1, None]}
    assert python_class().count(conversation_id) == 3
    # The class's clear deletes the window only: the pinned message and the seq counter stay.
    python_class().clear(conversation_id)
    assert [(m["content"], m.get("pinned")) for m in memory.get_history(conversation_id)] == [("You are terse.", True)]
    memory.append(conversation_id, "user", "again")
    assert memory.get_history(conversation_id)[-1].get("seq") == 5


def test_the_server_reads_what_the_class_wrote(memory: ChatMemory, conversation_id: str) -> None:
    legacy = python_class()
    legacy.append(conversation_id, "user", "Bonjour 🇫🇷")
    legacy.append(conversation_id, "assistant", "Salut.")
    # No seq and no created_at on the class's elements; their tokens are counted when read.
    history = memory.get_history(conversation_id)
    assert all(message.pop("token_count", 0) > 0 for message in history)
    assert history == [
        {"role": "user", "content": "Bonjour 🇫🇷"},
        {"role": "assistant", "content": "Salut."},
    ]
    # The server's first append to it starts the counter at 1; range reads skip the seq-less ones.
    memory.append(conversation_id, "user", "Et maintenant ?")
    assert [m.get("seq", 0) for m in memory.get_history(conversation_id)] == [0, 0, 1]
    assert [m["content"] for m in memory.get_history(conversation_id, after_seq=0, before_seq=2)] == ["Et maintenant ?"]
    assert memory.count(conversation_id) == 3
