"""The Python side of the polyglot interop test (clients/interop.test.ts), like clients/go/interop:

    python interop.py append CONVERSATION_ID < message.json   appends one message, prints {"count": N}
    python interop.py read CONVERSATION_ID                    prints the history as a JSON array
"""

import json
import os
import sys

import grpc
from google.protobuf import json_format, struct_pb2

from chatmemory.v1 import chatmemory_pb2 as pb
from chatmemory.v1 import chatmemory_pb2_grpc


def main(command: str, conversation_id: str) -> object:
    with grpc.insecure_channel(os.environ["CHATMEMORY_ADDRESS"]) as channel:
        stub = chatmemory_pb2_grpc.ChatMemoryStub(channel)
        if command == "append":
            given = json.load(sys.stdin.buffer)  # bytes: UTF-8 whatever the locale
            extra = struct_pb2.Struct()
            extra.update(given.get("extra", {}))
            message = pb.Message(
                role=given["role"],
                content=given["content"],
                name=given.get("name", ""),
                tool_call_id=given.get("tool_call_id", ""),
                metadata=given.get("metadata", {}),
                tool_calls=[pb.ToolCall(**call) for call in given.get("tool_calls", [])],
                id=given.get("id", ""),
                extra=extra,
            )
            response = stub.Append(pb.AppendRequest(conversation_id=conversation_id, messages=[message]), timeout=10)
            return {"count": response.count}
        if command == "read":
            history = stub.GetHistory(pb.GetHistoryRequest(conversation_id=conversation_id), timeout=10)
            return [
                {
                    "role": m.role,
                    "content": m.content,
                    "name": m.name,
                    "tool_call_id": m.tool_call_id,
                    "metadata": dict(m.metadata),
                    "tool_calls": [
                        {"id": c.id, "type": c.type, "name": c.name, "arguments": c.arguments} for c in m.tool_calls
                    ],
                    "id": m.id,
                    "extra": json_format.MessageToDict(m.extra),
                    "created_at": (
                        {"seconds": m.created_at.seconds, "nanos": m.created_at.nanos} if m.HasField("created_at") else None
                    ),
                }
                for m in history.messages
            ]
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: interop.py append|read CONVERSATION_ID")
    json.dump(main(sys.argv[1], sys.argv[2]), sys.stdout)  # ASCII with \u escapes: locale-proof
    sys.stdout.write("\n")
