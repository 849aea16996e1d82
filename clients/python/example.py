"""The Python client example of docs/clients.md: the generated stubs, then the wrapper, against the server
at $CHATMEMORY_ADDRESS (default 127.0.0.1:50051)."""

import os
import uuid

import grpc

from chatmemory import ChatMemory
from chatmemory.v1 import chatmemory_pb2 as pb
from chatmemory.v1 import chatmemory_pb2_grpc

address = os.environ.get("CHATMEMORY_ADDRESS", "127.0.0.1:50051")
conversation = f"py-example-{uuid.uuid4().hex}"

# The generated stubs: every field and RPC of the proto.
with grpc.insecure_channel(address) as channel:
    stub = chatmemory_pb2_grpc.ChatMemoryStub(channel)
    appended = stub.Append(
        pb.AppendRequest(
            conversation_id=conversation,
            messages=[
                pb.Message(role="user", content="What is the capital of France?"),
                pb.Message(role="assistant", content="Paris.", metadata={"model": "m1"}),
            ],
        ),
        timeout=5,
    )
    print("count after append:", appended.count)
    for message in stub.GetHistory(pb.GetHistoryRequest(conversation_id=conversation), timeout=5).messages:
        print(f"{message.role}: {message.content} (at {message.created_at.ToJsonString()})")
    try:
        stub.Append(pb.AppendRequest(conversation_id="bad id"), timeout=5)
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        print("rejected:", error.code().name, error.details())

# The wrapper: the Python RedisChatMemory class's method names, retries on UNAVAILABLE.
with ChatMemory(address) as memory:
    memory.append(conversation, "user", "And of Italy?", request_id=str(uuid.uuid4()))
    print("history:", memory.get_history(conversation, limit=2))
    print("count:", memory.count(conversation))
    print("cleared:", memory.clear(conversation))
