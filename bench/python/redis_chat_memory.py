"""The benchmark's own copy of the Python ``RedisChatMemory`` class's logic
(shared/reference/redis_chat_memory.py.txt), kept here and not in the product.

Same behaviour as the original, bugs included: a client per call when built
with a URL (``redis.from_url`` on every call: a new pool, a TCP connect and a
handshake), a reused client when one is passed in; Append is
MULTI / RPUSH / LTRIM / EXPIRE int(ttl) / EXEC; GetHistory is LRANGE 0 -1 with
``json.loads`` per element, skipping corrupt ones.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis


@dataclass(frozen=True)
class ChatMemoryConfig:
    max_turns: int = 10
    ttl_seconds: float | None = None
    key_prefix: str = "ractogateway:memory"


class RedisChatMemory:
    def __init__(self, *, url: str = "redis://localhost:6379/0", client: Any | None = None,
                 config: ChatMemoryConfig | None = None) -> None:
        self._url = url
        self._provided_client = client
        self._config = config or ChatMemoryConfig()

    def _client(self) -> Any:
        if self._provided_client is not None:
            return self._provided_client
        return redis.from_url(self._url, decode_responses=True)

    def _key(self, conversation_id: str) -> str:
        return f"{self._config.key_prefix}:{conversation_id}"

    def append(self, conversation_id: str, role: str, content: str) -> None:
        key = self._key(conversation_id)
        payload = json.dumps({"role": role, "content": content})
        max_messages = self._config.max_turns * 2
        with self._client().pipeline(transaction=True) as pipe:
            pipe.rpush(key, payload)
            pipe.ltrim(key, -max_messages, -1)
            if self._config.ttl_seconds is not None:
                pipe.expire(key, int(self._config.ttl_seconds))
            pipe.execute()

    def get_history(self, conversation_id: str) -> list[dict[str, str]]:
        raw_messages: list[str] = self._client().lrange(self._key(conversation_id), 0, -1)
        result: list[dict[str, str]] = []
        for raw in raw_messages:
            try:
                result.append(json.loads(raw))
            except (json.JSONDecodeError, TypeError):
                continue
        return result

    def clear(self, conversation_id: str) -> None:
        self._client().delete(self._key(conversation_id))

    def count(self, conversation_id: str) -> int:
        return int(self._client().llen(self._key(conversation_id)))
