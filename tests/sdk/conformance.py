#!/usr/bin/env python3
"""Conformance of the gateway's `openai` channel with the official `openai` and `anthropic` SDKs.

The gateway must front the fake OpenAI upstream (`gateway_tests::fake_openai`), whose answers
are keyed by markers in the prompt (TOOLS, THINK, IMAGE, ERROR500, RATE429). Both SDKs run with
strict response validation (every response and stream event must match the SDK's types) and no
retries. Each check prints `PASS name` or `FAIL name: reason`; the last line is
`N passed, M failed`; the exit status is 1 when any check failed.

    python conformance.py --base-url http://127.0.0.1:8080 --api-key anything
    python conformance.py --base-url http://127.0.0.1:PORT --api-key sk-test --target fake

`--target fake` points the OpenAI SDK straight at the fake upstream (`<base>/v1`), to prove the
fake is realistic: only the OpenAI checks that make sense without the gateway run, and upstream
errors are expected as the fake's own 500 rather than the gateway's 502. `-k NAME` runs only the
checks whose name contains NAME.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import struct
import sys
import traceback
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import anthropic
import openai

MODEL = "gpt-4o-mini"
UNKNOWN_MODEL = "no-such-model-xyz"
TIMEOUT_SECS = 30.0

WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone",
        "parameters": {
            "type": "object",
            "properties": {"tz": {"type": "string"}},
            "required": ["tz"],
        },
    },
}
TOOLS_ANTHROPIC = [
    {
        "name": t["function"]["name"],
        "description": t["function"]["description"],
        "input_schema": t["function"]["parameters"],
    }
    for t in (WEATHER_TOOL_OPENAI, TIME_TOOL_OPENAI)
]
EXPECTED_CALLS = {"get_weather": {"city": "Paris"}, "get_time": {"tz": "UTC"}}
TOOL_RESULTS = {"get_weather": "18°C and sunny", "get_time": "12:00"}


class CheckFailed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect_eq(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def tiny_png() -> bytes:
    """A valid 1x1 red RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG_B64 = base64.b64encode(tiny_png()).decode("ascii")


@dataclass
class Context:
    base_url: str
    api_key: str
    target: str  # "gateway" or "fake"
    oai: openai.OpenAI
    anth: anthropic.Anthropic | None

    @property
    def via_gateway(self) -> bool:
        return self.target == "gateway"

    @property
    def upstream_error_status(self) -> int:
        return 502 if self.via_gateway else 500

    def openai_client(self, base_url: str) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=self.api_key,
            base_url=base_url,
            max_retries=0,
            timeout=TIMEOUT_SECS,
            _strict_response_validation=True,
        )


# name -> (function, runs against the fake directly too)
CHECKS: list[tuple[str, Callable[[Context], None], bool]] = []


def check(fake_too: bool = False) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    def register(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        CHECKS.append((fn.__name__, fn, fake_too))
        return fn

    return register


# ------------------------------------------------------------------------------------------------
# Helpers


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def raw_json(err: Exception) -> Any:
    response = getattr(err, "response", None)
    try:
        return response.json() if response is not None else None
    except Exception:  # noqa: BLE001 - any non-JSON body
        return None


def expect_openai_error_shape(err: Exception) -> None:
    body = raw_json(err)
    expect(isinstance(body, dict), f"error body is not JSON: {body!r}")
    error = body.get("error")
    expect(
        isinstance(error, dict) and isinstance(error.get("message"), str) and "type" in error,
        f"not an OpenAI error body {{error: {{message, type}}}}: {body!r}",
    )
    expect(body.get("type") != "error", f"Claude-shaped error on an OpenAI route: {body!r}")


def expect_anthropic_error_shape(err: Exception, error_type: str | None = None) -> None:
    body = raw_json(err)
    expect(isinstance(body, dict) and body.get("type") == "error", f"not a Claude error body: {body!r}")
    error = body.get("error")
    expect(isinstance(error, dict) and isinstance(error.get("message"), str), f"no error.message: {body!r}")
    if error_type is not None:
        expect_eq(error.get("type"), error_type, "error.type")


def expect_names_model(err: Exception, model: str) -> None:
    """A 404 for an unknown model must say so (a missing route is a 404 too)."""
    expect(model in str(raw_json(err)), f"the 404 does not name the model {model!r}: {raw_json(err)!r}")


def delta_reasoning(delta: Any) -> str | None:
    value = getattr(delta, "reasoning_content", None)
    if value is None:
        extra = getattr(delta, "model_extra", None) or {}
        value = extra.get("reasoning_content")
    return value


def accumulate_tool_calls(chunks: list[Any]) -> dict[int, dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            if tc.id:
                expect(not call["id"] or call["id"] == tc.id, f"tool call {tc.index} changed id")
                call["id"] = tc.id
            if tc.function is not None:
                if tc.function.name:
                    call["name"] = tc.function.name
                call["arguments"] += tc.function.arguments or ""
    return calls


def expect_two_calls(calls: list[dict[str, str]]) -> None:
    expect_eq(len(calls), 2, "number of tool calls")
    ids = [c["id"] for c in calls]
    expect(all(ids) and ids[0] != ids[1], f"tool call ids must be distinct and non-empty: {ids}")
    for c in calls:
        expect(c["name"] in EXPECTED_CALLS, f"unexpected tool {c['name']!r}")
        try:
            args = json.loads(c["arguments"])
        except json.JSONDecodeError as e:
            raise CheckFailed(f"arguments of {c['name']} are not JSON: {c['arguments']!r} ({e})") from e
        expect_eq(args, EXPECTED_CALLS[c["name"]], f"arguments of {c['name']}")
    expect_eq(sorted(c["name"] for c in calls), sorted(EXPECTED_CALLS), "tool names")


def openai_tool_follow_up(ctx: Context, calls: list[dict[str, str]]) -> None:
    """Sends the assistant tool_calls message and both tool results back; expects the echo."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "TOOLS: weather and time in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in calls
            ],
        },
    ]
    for c in calls:
        messages.append({"role": "tool", "tool_call_id": c["id"], "content": TOOL_RESULTS[c["name"]]})
    resp = ctx.oai.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER_TOOL_OPENAI, TIME_TOOL_OPENAI]
    )
    text = resp.choices[0].message.content or ""
    for c in calls:
        expect(TOOL_RESULTS[c["name"]] in text, f"follow-up answer lacks the {c['name']} result: {text!r}")
    expect_eq(resp.choices[0].finish_reason, "stop", "follow-up finish_reason")


# ------------------------------------------------------------------------------------------------
# OpenAI SDK


@check(fake_too=True)
def openai_text(ctx: Context) -> None:
    resp = ctx.oai.chat.completions.create(model=MODEL, messages=user("hello"))
    expect_eq(resp.object, "chat.completion", "object")
    expect_eq(resp.choices[0].message.role, "assistant", "message.role")
    expect_eq(resp.choices[0].message.content, "You said: hello", "message.content")
    expect_eq(resp.choices[0].finish_reason, "stop", "finish_reason")
    expect(resp.usage is not None and resp.usage.prompt_tokens > 0, f"usage.prompt_tokens > 0: {resp.usage}")
    expect(resp.usage.completion_tokens > 0, f"usage.completion_tokens > 0: {resp.usage}")


@check(fake_too=True)
def openai_stream_text(ctx: Context) -> None:
    chunks = list(
        ctx.oai.chat.completions.create(
            model=MODEL,
            messages=[{"role": "system", "content": "Be brief."}, *user("hello")],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    expect(len(chunks) >= 3, f"expected several chunks, got {len(chunks)}")
    expect_eq({c.object for c in chunks}, {"chat.completion.chunk"}, "chunk objects")
    expect_eq(len({c.id for c in chunks}), 1, "one id across chunks")
    with_choices = [c for c in chunks if c.choices]
    expect_eq(with_choices[0].choices[0].delta.role, "assistant", "first delta.role")
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    expect_eq(text, "You said: hello", "streamed text")
    expect_eq(with_choices[-1].choices[0].finish_reason, "stop", "last finish_reason")
    for c in with_choices[:-1]:
        expect(c.choices[0].finish_reason is None, f"finish_reason before the end: {c}")
    usage_chunk = chunks[-1]
    expect(not usage_chunk.choices, f"the usage chunk must have choices == [], got {usage_chunk}")
    expect(
        usage_chunk.usage is not None and usage_chunk.usage.prompt_tokens > 0,
        f"final usage chunk with prompt_tokens > 0: {usage_chunk}",
    )
    expect(
        usage_chunk.usage.total_tokens == usage_chunk.usage.prompt_tokens + usage_chunk.usage.completion_tokens,
        f"total_tokens = prompt + completion: {usage_chunk.usage}",
    )

    # Without stream_options no chunk may lack choices (naive clients index choices[0]).
    chunks = list(ctx.oai.chat.completions.create(model=MODEL, messages=user("hello"), stream=True))
    expect(all(c.choices for c in chunks), "a chunk without choices arrived although usage was not requested")
    expect_eq("".join(c.choices[0].delta.content or "" for c in chunks), "You said: hello", "text without usage")


@check(fake_too=True)
def openai_tools_stream(ctx: Context) -> None:
    chunks = list(
        ctx.oai.chat.completions.create(
            model=MODEL,
            messages=user("TOOLS: weather and time in Paris?"),
            tools=[WEATHER_TOOL_OPENAI, TIME_TOOL_OPENAI],
            stream=True,
        )
    )
    calls = accumulate_tool_calls(chunks)
    expect_eq(sorted(calls), [0, 1], "tool call indexes")
    ordered = [calls[0], calls[1]]
    expect_two_calls(ordered)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    expect_eq(finishes, ["tool_calls"], "finish_reason")
    openai_tool_follow_up(ctx, ordered)


@check(fake_too=True)
def openai_tools_non_stream(ctx: Context) -> None:
    resp = ctx.oai.chat.completions.create(
        model=MODEL,
        messages=user("TOOLS: weather and time in Paris?"),
        tools=[WEATHER_TOOL_OPENAI, TIME_TOOL_OPENAI],
    )
    message = resp.choices[0].message
    expect_eq(resp.choices[0].finish_reason, "tool_calls", "finish_reason")
    expect(message.tool_calls is not None, "message.tool_calls missing")
    calls = []
    for tc in message.tool_calls:
        expect_eq(tc.type, "function", "tool call type")
        calls.append({"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments})
    expect_two_calls(calls)
    openai_tool_follow_up(ctx, calls)


@check(fake_too=True)
def openai_thinking_stream(ctx: Context) -> None:
    reasoning = ""
    text = ""
    for chunk in ctx.oai.chat.completions.create(model=MODEL, messages=user("THINK: what is 6 x 7?"), stream=True):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning += delta_reasoning(delta) or ""
        text += delta.content or ""
    expect_eq(text, "The answer is 42.", "content")
    expect("Let me think" in reasoning, f"reasoning_content deltas missing or wrong: {reasoning!r}")


@check(fake_too=True)
def openai_image(ctx: Context) -> None:
    resp = ctx.oai.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "IMAGE: what is in this picture?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                ],
            }
        ],
    )
    expect_eq(resp.choices[0].message.content, "I see 1 image(s)", "content")


@check()
def openai_unknown_model(ctx: Context) -> None:
    try:
        ctx.oai.chat.completions.create(model=UNKNOWN_MODEL, messages=user("hello"))
    except openai.NotFoundError as e:
        expect_openai_error_shape(e)
        expect_names_model(e, UNKNOWN_MODEL)
        return
    raise CheckFailed("expected openai.NotFoundError (404)")


@check(fake_too=True)
def openai_upstream_error(ctx: Context) -> None:
    for stream in (False, True):
        try:
            ctx.oai.chat.completions.create(model=MODEL, messages=user("ERROR500"), stream=stream)
        except openai.APIStatusError as e:
            expect_eq(e.status_code, ctx.upstream_error_status, f"status (stream={stream})")
            expect_openai_error_shape(e)
            continue
        raise CheckFailed(f"expected APIStatusError {ctx.upstream_error_status} (stream={stream})")


def expect_retry_after(value: str | None) -> None:
    """The upstream said 7 s; once the account is cooling, the gateway reports what is left."""
    if value is None or not value.isdigit() or not 1 <= int(value) <= 7:
        raise CheckFailed(f"retry-after: expected 1..7 seconds, got {value!r}")


@check(fake_too=True)
def openai_rate_limited(ctx: Context) -> None:
    try:
        ctx.oai.chat.completions.create(model=MODEL, messages=user("RATE429"))
    except openai.RateLimitError as e:
        expect_retry_after(e.response.headers.get("retry-after"))
        expect_openai_error_shape(e)
        return
    raise CheckFailed("expected openai.RateLimitError (429)")


@check(fake_too=True)
def openai_models_list(ctx: Context) -> None:
    ids = [m.id for m in ctx.oai.models.list()]
    expect(MODEL in ids, f"{MODEL} not listed: {ids}")


@check()
def openai_models_list_unprefixed(ctx: Context) -> None:
    client = ctx.openai_client(f"{ctx.base_url}/v1")
    ids = [m.id for m in client.models.list()]
    expect(MODEL in ids, f"{MODEL} not listed at /v1/models: {ids}")


# ------------------------------------------------------------------------------------------------
# Anthropic SDK (through the gateway only)


def anth(ctx: Context) -> anthropic.Anthropic:
    assert ctx.anth is not None
    return ctx.anth


def as_param(block: Any) -> dict[str, Any]:
    """A response content block as a request block (only the fields a client sends back)."""
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    raise CheckFailed(f"unexpected block in a tool-use answer: {block.type}")


def text_of(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


@check()
def anthropic_text(ctx: Context) -> None:
    msg = anth(ctx).messages.create(model=MODEL, max_tokens=256, messages=user("hello"))
    expect_eq(msg.type, "message", "type")
    expect_eq(msg.role, "assistant", "role")
    expect_eq(msg.content[0].type, "text", "content[0].type")
    expect_eq(msg.content[0].text, "You said: hello", "content[0].text")
    expect_eq(msg.stop_reason, "end_turn", "stop_reason")
    expect(msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0, f"usage: {msg.usage}")


@check()
def anthropic_stream(ctx: Context) -> None:
    kinds: list[str] = []
    with anth(ctx).messages.stream(
        model=MODEL, max_tokens=256, system="Be brief.", messages=user("hello")
    ) as stream:
        for event in stream:
            kinds.append(event.type)
        final = stream.get_final_message()
    expect_eq(text_of(final), "You said: hello", "final message text")
    expect_eq(final.stop_reason, "end_turn", "stop_reason")
    for needed in (
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ):
        expect(needed in kinds, f"no {needed} event in {sorted(set(kinds))}")
    expect_eq(kinds[0], "message_start", "first event")
    expect_eq(kinds[-1], "message_stop", "last event")


@check()
def anthropic_tools(ctx: Context) -> None:
    question = user("TOOLS: weather and time in Paris?")
    msg = anth(ctx).messages.create(model=MODEL, max_tokens=256, tools=TOOLS_ANTHROPIC, messages=question)
    expect_eq(msg.stop_reason, "tool_use", "stop_reason")
    uses = [b for b in msg.content if b.type == "tool_use"]
    expect_eq(len(uses), 2, "tool_use blocks")
    expect(uses[0].id and uses[0].id != uses[1].id, f"tool_use ids must be distinct: {[u.id for u in uses]}")
    for u in uses:
        expect(u.name in EXPECTED_CALLS, f"unexpected tool {u.name!r}")
        expect_eq(u.input, EXPECTED_CALLS[u.name], f"input of {u.name}")

    # The same through the stream helper (input_json deltas reassembled by the SDK).
    with anth(ctx).messages.stream(model=MODEL, max_tokens=256, tools=TOOLS_ANTHROPIC, messages=question) as s:
        streamed = s.get_final_message()
    streamed_uses = {b.name: b.input for b in streamed.content if b.type == "tool_use"}
    expect_eq(streamed_uses, EXPECTED_CALLS, "streamed tool_use inputs")
    expect_eq(streamed.stop_reason, "tool_use", "streamed stop_reason")

    follow_up = anth(ctx).messages.create(
        model=MODEL,
        max_tokens=256,
        tools=TOOLS_ANTHROPIC,
        messages=[
            *question,
            {"role": "assistant", "content": [as_param(b) for b in msg.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": u.id, "content": TOOL_RESULTS[u.name]} for u in uses
                ],
            },
        ],
    )
    text = text_of(follow_up)
    for u in uses:
        expect(TOOL_RESULTS[u.name] in text, f"follow-up answer lacks the {u.name} result: {text!r}")
    expect_eq(follow_up.stop_reason, "end_turn", "follow-up stop_reason")


@check()
def anthropic_thinking(ctx: Context) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    question = user("THINK: what is 6 x 7?")
    msg = anth(ctx).messages.create(model=MODEL, max_tokens=2048, thinking=thinking, messages=question)
    blocks = [b.type for b in msg.content]
    expect(blocks[:1] == ["thinking"], f"the first block must be thinking: {blocks}")
    expect("Let me think" in msg.content[0].thinking, f"thinking text: {msg.content[0].thinking!r}")
    expect_eq(text_of(msg), "The answer is 42.", "text block")

    with anth(ctx).messages.stream(model=MODEL, max_tokens=2048, thinking=thinking, messages=question) as s:
        streamed = s.get_final_message()
    thoughts = "".join(b.thinking for b in streamed.content if b.type == "thinking")
    expect("Let me think" in thoughts, f"streamed thinking: {thoughts!r}")
    expect_eq(text_of(streamed), "The answer is 42.", "streamed text")


@check()
def anthropic_image(ctx: Context) -> None:
    msg = anth(ctx).messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                    {"type": "text", "text": "IMAGE: what is in this picture?"},
                ],
            }
        ],
    )
    expect_eq(text_of(msg), "I see 1 image(s)", "text")


@check()
def anthropic_count_tokens(ctx: Context) -> None:
    short = anth(ctx).messages.count_tokens(model=MODEL, messages=user("hello"))
    long = anth(ctx).messages.count_tokens(model=MODEL, messages=user("hello " * 200))
    expect(short.input_tokens > 0, f"input_tokens > 0: {short}")
    expect(long.input_tokens > short.input_tokens, f"longer prompt counts more: {short} vs {long}")


@check()
def anthropic_unknown_model(ctx: Context) -> None:
    try:
        anth(ctx).messages.create(model=UNKNOWN_MODEL, max_tokens=64, messages=user("hello"))
    except anthropic.NotFoundError as e:
        expect_anthropic_error_shape(e, "not_found_error")
        expect_names_model(e, UNKNOWN_MODEL)
        return
    raise CheckFailed("expected anthropic.NotFoundError (404)")


@check()
def anthropic_upstream_error(ctx: Context) -> None:
    for stream in (False, True):
        try:
            if stream:
                with anth(ctx).messages.stream(model=MODEL, max_tokens=64, messages=user("ERROR500")) as s:
                    s.get_final_message()
            else:
                anth(ctx).messages.create(model=MODEL, max_tokens=64, messages=user("ERROR500"))
        except anthropic.APIStatusError as e:
            expect_eq(e.status_code, 502, f"status (stream={stream})")
            expect_anthropic_error_shape(e)
            continue
        raise CheckFailed(f"expected APIStatusError 502 (stream={stream})")


@check()
def anthropic_rate_limited(ctx: Context) -> None:
    try:
        anth(ctx).messages.create(model=MODEL, max_tokens=64, messages=user("RATE429"))
    except anthropic.RateLimitError as e:
        expect_retry_after(e.response.headers.get("retry-after"))
        expect_anthropic_error_shape(e, "rate_limit_error")
        return
    raise CheckFailed("expected anthropic.RateLimitError (429)")


# ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="gateway (or fake) origin, e.g. http://127.0.0.1:8080")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--target", choices=("gateway", "fake"), default="gateway")
    parser.add_argument("-k", dest="only", default="", help="run only checks whose name contains this")
    args = parser.parse_args()

    # Loopback must never go through a proxy configured for the package registries.
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost"]))

    base = args.base_url.rstrip("/")
    via_gateway = args.target == "gateway"
    ctx = Context(base_url=base, api_key=args.api_key, target=args.target, oai=None, anth=None)  # type: ignore[arg-type]
    ctx.oai = ctx.openai_client(f"{base}/openai/v1" if via_gateway else f"{base}/v1")
    if via_gateway:
        ctx.anth = anthropic.Anthropic(
            api_key=args.api_key,
            base_url=f"{base}/openai",
            max_retries=0,
            timeout=TIMEOUT_SECS,
            _strict_response_validation=True,
        )

    passed = failed = 0
    # A 429 makes the gateway cool the account down for the upstream's retry-after, so the
    # rate-limit checks run last (stable sort keeps the rest in definition order).
    for name, fn, fake_too in sorted(CHECKS, key=lambda c: "rate_limited" in c[0]):
        if (not via_gateway and not fake_too) or args.only not in name:
            continue
        try:
            fn(ctx)
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == __file__]
            where = f" (line {frames[-1].lineno})" if frames else ""
            print(f"FAIL {name}: {type(e).__name__}: {e}{where}", flush=True)
        else:
            passed += 1
            print(f"PASS {name}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
