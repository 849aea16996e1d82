"""The README's Python adapter examples run as written (address aside), with LangChain's fake chat
model and LlamaIndex's MockLLM standing in for `model` and `llm`."""

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from llama_index.core.llms import MockLLM
from llama_index.core.utils import set_global_tokenizer

from chatmemory.langchain import ChatMemoryMessageHistory
from chatmemory.llama_index import ChatMemoryChatStore

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_blocks() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## LangChain and LlamaIndex in Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def run(block: str, address: str, session: str, names: dict[str, Any]) -> None:
    code = block.replace("127.0.0.1:50051", address).replace("session-42", session)
    exec(compile(code, str(README), "exec"), names)


def test_readme_has_one_example_per_framework() -> None:
    blocks = readme_blocks()
    assert len(blocks) == 2
    assert "chatmemory.langchain" in blocks[0] and "chatmemory.llama_index" in blocks[1]


def test_readme_langchain_example(address: str) -> None:
    session = f"py-readme-lc-{uuid.uuid4().hex}"
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{input}")])
    model = GenericFakeChatModel(messages=iter([AIMessage("18 °C and sunny.")]))
    with pytest.warns(DeprecationWarning):  # RunnableWithMessageHistory, deprecated in LangChain 1.x
        run(readme_blocks()[0], address, session, {"prompt": prompt, "model": model})
    history = ChatMemoryMessageHistory(session, address=address)
    assert [(m.type, m.content) for m in history.messages] == [("human", "Weather in Paris?"), ("ai", "18 °C and sunny.")]
    history.clear()
    history.close()


def test_readme_llama_index_example(address: str) -> None:
    session = f"py-readme-li-{uuid.uuid4().hex}"
    set_global_tokenizer(str.split)  # tiktoken would download its ranks: offline here
    run(readme_blocks()[1], address, session, {"llm": MockLLM(max_tokens=3)})
    store = ChatMemoryChatStore(address=address)
    assert [m.content for m in store.get_messages(session)] == ["Weather in Paris?", "text text text"]
    store.delete_messages(session)
    store.close()
