"""Live-server tests of the Python client: the server's address comes from $CHATMEMORY_ADDRESS
(scripts/test-clients.sh starts a server against its own Redis); without it the run fails."""

import os
import uuid
from collections.abc import Iterator

import grpc
import pytest

from chatmemory.v1 import chatmemory_pb2_grpc


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("CHATMEMORY_ADDRESS"):
        raise pytest.UsageError("CHATMEMORY_ADDRESS is not set: run these tests with npm run test:clients")


@pytest.fixture(scope="session")
def address() -> str:
    return os.environ["CHATMEMORY_ADDRESS"]


@pytest.fixture(scope="session")
def channel(address: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(address) as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.Channel) -> chatmemory_pb2_grpc.ChatMemoryStub:
    return chatmemory_pb2_grpc.ChatMemoryStub(channel)


@pytest.fixture
def conversation_id(request: pytest.FixtureRequest) -> str:
    return f"py-{request.node.name.replace('[', '-').replace(']', '').replace(' ', '-')}-{uuid.uuid4().hex}"
