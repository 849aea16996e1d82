"""LangChain messages <-> ChatMemory `Message`: the element mapping of docs/adapters.md, shared with
the LangChain.js adapter, so a conversation written from one language reads back equal in the other.

Tool calls go to `Message.tool_calls` (arguments as compact JSON), ids, names and tool call ids
to their own fields, everything else a message carries to `extra["lc"]`; nothing is dropped:
`message_to_dict` of a message equals `message_to_dict` of it read back.
"""

from __future__ import annotations

import json
import re
from typing import Any

from google.protobuf import json_format
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from chatmemory.v1 import chatmemory_pb2 as pb

EXTRA_KEY = "lc"
_ROLES = {"user", "assistant", "system", "tool", "developer"}
# Message.id and ToolCall.id/name as the server accepts them.
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,128}")
_LARGEST_EXACT_FLOAT_INT = 2**53


def message_type(message: BaseMessage) -> str:
    """The `message_to_dict` type of a message, chunk classes as their message class."""
    # Chunk classes subclass their message class (AIMessageChunk is an AIMessage).
    for cls, name in _TYPES:
        if isinstance(message, cls):
            return name
    raise TypeError(f"ChatMemory stores human, ai, system, tool, chat and function messages, not {type(message).__name__}")


# Fields the mapping places itself; any other field of a serialized message goes to extra.lc as is.
_KNOWN_FIELDS = frozenset(
    {
        "content", "additional_kwargs", "response_metadata", "type", "name", "id",
        "tool_calls", "invalid_tool_calls", "usage_metadata", "tool_call_chunks",
        "tool_call_id", "status", "artifact", "role",
    }
)

_TYPES: list[tuple[type[BaseMessage], str]] = [
    (HumanMessage, "human"),
    (AIMessage, "ai"),
    (SystemMessage, "system"),
    (ToolMessage, "tool"),
    (ChatMessage, "chat"),
    (FunctionMessage, "function"),
]


def message_to_proto(message: BaseMessage) -> pb.Message:
    """One LangChain message as one Message (docs/adapters.md, "The element mapping")."""
    kind = message_type(message)
    lc: dict[str, Any] = {"type": kind}
    proto = pb.Message(role=_role(kind, message))
    content = message.content
    if isinstance(content, str):
        proto.content = content
    else:
        proto.content = message.text
        lc["content"] = content
    if isinstance(message.id, str):
        if _MESSAGE_ID.fullmatch(message.id):
            proto.id = message.id
        else:
            lc["id"] = message.id
    if isinstance(message.name, str) and message.name:
        proto.name = message.name
    if message.additional_kwargs:
        lc["additional_kwargs"] = message.additional_kwargs
    if message.response_metadata:
        lc["response_metadata"] = message.response_metadata
    if isinstance(message, AIMessage):
        _ai_fields(message, proto, lc)
    elif isinstance(message, ToolMessage):
        proto.tool_call_id = message.tool_call_id
        if message.status is not None:
            lc["status"] = message.status
        if message.artifact is not None:
            lc["artifact"] = message.artifact
    elif isinstance(message, ChatMessage):
        lc["role"] = message.role
    # Fields beyond the classes' own (BaseMessage allows extra fields; LangChain.js's ToolMessage
    # `metadata` arrives as one), verbatim.
    for key, value in message.model_dump().items():
        if key not in _KNOWN_FIELDS and value is not None:
            lc[key] = value
    # Through JSON text first: a value JSON cannot hold (an object, NaN) fails here with a clear
    # error rather than deep inside protobuf's Struct.
    proto.extra.update({EXTRA_KEY: json.loads(json.dumps(lc, allow_nan=False))})
    return proto


def _role(kind: str, message: BaseMessage) -> str:
    if kind == "human":
        return "user"
    if kind == "ai":
        return "assistant"
    if kind == "system":
        return "developer" if message.additional_kwargs.get("__openai_role__") == "developer" else "system"
    if kind == "chat":
        role = getattr(message, "role", "")
        return role if role in _ROLES else "user"
    return "tool"  # tool, function


def _ai_fields(message: AIMessage, proto: pb.Message, lc: dict[str, Any]) -> None:
    calls = message.tool_calls
    if calls and all(_fits_tool_call(call.get("id")) and _fits_tool_call(call.get("name")) for call in calls):
        for call in calls:
            arguments = json.dumps(call["args"], separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            proto.tool_calls.add(id=call["id"], name=call["name"], arguments=arguments)
    elif calls:
        # A missing id is left out, as JSON.stringify leaves out LangChain.js's undefined one.
        lc["tool_calls"] = [{k: v for k, v in call.items() if not (k == "id" and v is None)} for call in calls]
    if message.invalid_tool_calls:
        lc["invalid_tool_calls"] = message.invalid_tool_calls
    if message.usage_metadata is not None:
        lc["usage_metadata"] = message.usage_metadata


def _fits_tool_call(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 128


def message_from_proto(message: pb.Message) -> BaseMessage:
    """A stored Message as a LangChain message: as written when it carries `extra["lc"]`, else
    from its role (written by another client)."""
    extra = _ints(json_format.MessageToDict(message.extra)) if message.HasField("extra") else {}
    lc = extra.get(EXTRA_KEY)
    if isinstance(lc, dict) and isinstance(lc.get("type"), str):
        return _from_lc(message, lc)
    return _from_role(message)


def _from_lc(message: pb.Message, lc: dict[str, Any]) -> BaseMessage:
    kind = lc["type"]
    placed = ("type", "content", "id", "tool_calls") if kind == "chat" else ("type", "content", "id", "tool_calls", "role")
    fields: dict[str, Any] = {k: v for k, v in lc.items() if k not in placed}
    fields["content"] = lc.get("content", message.content)
    message_id = message.id or lc.get("id")
    if message_id is not None:
        fields["id"] = message_id
    if message.name:
        fields["name"] = message.name
    if kind == "human":
        return HumanMessage(**fields)
    if kind == "ai":
        if message.tool_calls:
            parsed = [_parsed_call(call) for call in message.tool_calls]
            fields["tool_calls"] = [call for call, ok in parsed if ok]
            invalid = [call for call, ok in parsed if not ok]
            if invalid:
                fields["invalid_tool_calls"] = [*fields.get("invalid_tool_calls", []), *invalid]
        elif isinstance(lc.get("tool_calls"), list):
            fields["tool_calls"] = [{"id": None, **call} if isinstance(call, dict) else call for call in lc["tool_calls"]]
        return AIMessage(**fields)
    if kind == "system":
        return SystemMessage(**fields)
    if kind == "tool":
        return ToolMessage(tool_call_id=message.tool_call_id, **fields)
    if kind == "chat":
        fields.setdefault("role", message.role)
        return ChatMessage(**fields)
    if kind == "function":
        fields.setdefault("name", message.name)
        return FunctionMessage(**fields)
    # An unknown type (a newer writer): keep the words under the stored role.
    return _from_role(message)


def _from_role(message: pb.Message) -> BaseMessage:
    common: dict[str, Any] = {"content": message.content}
    if message.id:
        common["id"] = message.id
    if message.name:
        common["name"] = message.name
    role = message.role
    if role == "user":
        return HumanMessage(**common)
    if role == "assistant":
        valid: list[dict[str, Any]] = []
        invalid: list[dict[str, Any]] = []
        for call in message.tool_calls:
            parsed, ok = _parsed_call(call)
            (valid if ok else invalid).append(parsed)
        return AIMessage(tool_calls=valid, invalid_tool_calls=invalid, **common)
    if role == "system":
        return SystemMessage(**common)
    if role == "developer":
        return SystemMessage(additional_kwargs={"__openai_role__": "developer"}, **common)
    if role == "tool":
        return ToolMessage(tool_call_id=message.tool_call_id, **common)
    return ChatMessage(role=role, **common)


def _parsed_call(call: pb.ToolCall) -> tuple[dict[str, Any], bool]:
    """A stored tool call as LangChain's tool call, or as an invalid one when its arguments are
    not a JSON object (as LangChain's own parsers do)."""
    try:
        args = json.loads(call.arguments)
    except ValueError:
        args = None
    if isinstance(args, dict):
        return {"name": call.name, "args": args, "id": call.id, "type": "tool_call"}, True
    return {"name": call.name, "args": call.arguments, "id": call.id, "error": None, "type": "invalid_tool_call"}, False


def _ints(value: Any) -> Any:
    """JSON numbers come back from a Struct as floats: integral ones become ints again (as
    `json.loads` would give them), e.g. the token counts of `usage_metadata`."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _LARGEST_EXACT_FLOAT_INT:
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value
