"""Throughput of the SSE codec on a realistic chat stream: `.venv/bin/python bench/bench_sse.py`.

Decoding is measured as the proxy does it, on 1,400-byte reads (about one TCP segment), so events and
multi-byte characters are split across reads; encoding is measured for `encode_json` and `encode`.
"""

from __future__ import annotations

import orjson

from switchyard.protocols.sse import DONE, SSEDecoder, encode, encode_json

try:
    from bench.kit import best_of
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kit import best_of  # type: ignore[no-redef]


EVENTS = 10_000
READ_SIZE = 1_400
ROUNDS = 5
WORDS = ["Hello", " world", ",", " caf\u00e9", " \u65e5\u672c", " \U0001f600", " the", " answer", " is", " 42"]


def chat_chunk(i: int) -> dict:
    return {
        "id": "chatcmpl-9d8c7b6a5f4e3d2c1b0a",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_0123456789",
        "choices": [{"index": 0, "delta": {"content": WORDS[i % len(WORDS)]}, "logprobs": None, "finish_reason": None}],
    }


def main() -> None:
    chunks = [chat_chunk(i) for i in range(EVENTS)]
    stream = b"".join(encode_json(c) for c in chunks) + DONE
    reads = [stream[i : i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)]
    texts = [orjson.dumps(c).decode() for c in chunks]

    def decode() -> None:
        decoder = SSEDecoder()
        for read in reads:
            decoder.decode(read)

    def decode_and_parse() -> None:
        decoder = SSEDecoder()
        for read in reads:
            for event in decoder.decode(read):
                if not event.is_done:
                    orjson.loads(event.data)

    def encode_objects() -> None:
        for c in chunks:
            encode_json(c)

    def encode_texts() -> None:
        for t in texts:
            encode(t)

    print(f"stream: {EVENTS:,} chat chunks, {len(stream):,} bytes, {len(reads):,} reads of {READ_SIZE:,} bytes")
    for name, run in [
        ("decode", decode),
        ("decode + orjson.loads", decode_and_parse),
        ("encode_json(obj)", encode_objects),
        ("encode(str)", encode_texts),
    ]:
        seconds = best_of(ROUNDS, run)
        print(f"{name:24s} {EVENTS / seconds:>12,.0f} events/s   {seconds / EVENTS * 1e6:6.2f} us/event")


if __name__ == "__main__":
    main()
