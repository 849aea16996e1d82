"""Load generator for the Python class (bench/python/redis_chat_memory.py).

    python load.py <append|history> <per-call|reused> <redis_url> <threads> <seconds> <conversation_id> <max_turns>

per-call: the class built with a URL, so every call makes its own client (the
original's default). reused: one redis.Redis client passed in and shared.
Threads share one RedisChatMemory, as a threaded web app would. Prints one
JSON line: calls, failures, rps, p50/p99 in ms, CPU per call of this process.
"""
from __future__ import annotations

import json
import resource
import sys
import threading
import time

import redis

from redis_chat_memory import ChatMemoryConfig, RedisChatMemory

CONTENT = "x" * 200


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def milliseconds(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def main() -> None:
    operation, mode, url, threads_arg, seconds_arg, conversation_id, max_turns = sys.argv[1:8]
    threads, seconds = int(threads_arg), float(seconds_arg)
    config = ChatMemoryConfig(max_turns=int(max_turns))
    if mode == "reused":
        memory = RedisChatMemory(client=redis.from_url(url, decode_responses=True), config=config)
    elif mode == "per-call":
        memory = RedisChatMemory(url=url, config=config)
    else:
        raise SystemExit(f"unknown mode {mode}")
    if operation == "append":
        call = lambda: memory.append(conversation_id, "user", CONTENT)  # noqa: E731
    else:
        call = lambda: memory.get_history(conversation_id)  # noqa: E731

    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures = [0] * threads
    started = time.perf_counter()
    until = started + seconds

    def loop(index: int) -> None:
        samples = latencies[index]
        while time.perf_counter() < until:
            t = time.perf_counter()
            try:
                call()
                samples.append(time.perf_counter() - t)
            except redis.RedisError:
                failures[index] += 1

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    merged = sorted(sample for samples in latencies for sample in samples)
    calls = len(merged)
    print(json.dumps({
        "calls": calls,
        "failures": sum(failures),
        "rps": round(calls / elapsed, 1),
        "p50Ms": milliseconds(percentile(merged, 50)),
        "p99Ms": milliseconds(percentile(merged, 99)),
        "generatorCpuUsPerCall": round(cpu_s * 1e6 / max(1, calls + sum(failures)), 1),
    }))


if __name__ == "__main__":
    main()
