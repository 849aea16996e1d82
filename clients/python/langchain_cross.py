"""The Python half of the LangChain cross-language check (scripts/test-clients.sh runs it with the
JavaScript half, clients/typescript/examples/langchain-cross.ts, against the live server at
$CHATMEMORY_ADDRESS). Each language compares with its own serializer:

  python langchain_cross.py write ID DUMP.json   writes CONVERSATION to ID, its message_to_dict to DUMP.json
  python langchain_cross.py check ID DUMP.json   reads ID; exit 1 unless it equals DUMP.json
  python langchain_cross.py copy SRC DST         reads SRC and appends it to DST in one add_messages
  python langchain_cross.py same A B             exit 1 unless A and B hold the same stored elements

Python -> JS -> Python: `write A`, JS `copy A B`, `check B` (JS read and wrote every case), and
`same A B` (JS wrote the very elements Python wrote). JS -> Python -> JS: JS `write C`, `copy C D`,
JS `check D`, `same C D`.
"""

import json
import os
import sys

import grpc
from google.protobuf import json_format
from pathlib import Path
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)

from chatmemory.langchain import ChatMemoryMessageHistory
from chatmemory.v1 import chatmemory_pb2 as pb
from chatmemory.v1 import chatmemory_pb2_grpc

FIXTURE = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "langchain-conversation.json"

# Beyond the shared fixture: the cases only Python makes easily.
MORE: list[BaseMessage] = [
    HumanMessage("an id the Message field refuses", id="id with spaces"),
    AIMessage(
        "",
        tool_calls=[{"name": "lookup", "args": {"q": "x", "ratio": 1.5, "n": 2}, "id": None}],
        usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
    ),
    ToolMessage("done", tool_call_id="call_9", status="success", artifact=[1, "two", None], metadata={"from": "python"}),
    FunctionMessage(content='{"temp": 18}', name="get_temperature"),
    ChatMessage(content="Noted, 日本語 🗼.", role="critic", name="reviewer", id="chat-1"),
]


def conversation() -> list[BaseMessage]:
    cases = json.loads(FIXTURE.read_text(encoding="utf-8"))["conversation"]
    return [*messages_from_dict([case["message"] for case in cases]), *MORE]


def history(conversation_id: str) -> ChatMemoryMessageHistory:
    return ChatMemoryMessageHistory(conversation_id, address=os.environ.get("CHATMEMORY_ADDRESS", "127.0.0.1:50051"))


def stored_elements(conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's Messages as proto JSON, without what the server sets per write."""
    with grpc.insecure_channel(os.environ.get("CHATMEMORY_ADDRESS", "127.0.0.1:50051")) as channel:
        response = chatmemory_pb2_grpc.ChatMemoryStub(channel).GetHistory(
            pb.GetHistoryRequest(conversation_id=conversation_id), timeout=5
        )
    elements = []
    for message in response.messages:
        element = json_format.MessageToDict(message)
        for per_write in ("seq", "createdAt", "tokenCount"):
            element.pop(per_write, None)
        elements.append(element)
    return elements


def print_first_difference(left: list[Any], right: list[Any], left_label: str, right_label: str) -> None:
    """Prints the first pair of entries that differ, each after its label."""
    for x, y in zip(left, right):
        if x != y:
            print(left_label, json.dumps(x, ensure_ascii=False))
            print(right_label, json.dumps(y, ensure_ascii=False))
            return


def main(command: str, first: str, second: str) -> int:
    if command == "write":
        messages = conversation()
        target = history(first)
        target.add_messages(messages)
        target.close()
        Path(second).write_text(json.dumps([message_to_dict(m) for m in messages], ensure_ascii=False), encoding="utf-8")
        print(f"python wrote {len(messages)} messages to {first}")
        return 0
    if command == "copy":
        source, target = history(first), history(second)
        messages = source.messages
        target.add_messages(messages)
        source.close()
        target.close()
        print(f"python copied {len(messages)} messages from {first} to {second}")
        return 0
    if command == "check":
        source = history(first)
        read: list[dict[str, Any]] = [message_to_dict(m) for m in source.messages]
        source.close()
        expected: list[dict[str, Any]] = json.loads(Path(second).read_text(encoding="utf-8"))
        if read == expected:
            print(f"python read {len(read)} messages from {first}: equal under message_to_dict")
            return 0
        print(f"python read {first}: {len(read)} messages, expected {len(expected)}; first difference:")
        print_first_difference(read, expected, "  got:     ", "  expected:")
        return 1
    if command == "same":
        a, b = stored_elements(first), stored_elements(second)
        if a == b:
            print(f"{first} and {second} hold the same {len(a)} stored elements")
            return 0
        print(f"{first} ({len(a)}) and {second} ({len(b)}) differ; first difference:")
        print_first_difference(a, b, "  ", "  ")
        return 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
