"""Drive `llmbench sim` with the official openai and anthropic Python clients.

Usage: python test_sim_clients.py BASE_URL [REASONING_URL]
BASE_URL: `llmbench sim` (e.g. http://127.0.0.1:8000); REASONING_URL: one started with
`--reasoning-tokens 3 --tokens-per-chunk 2` (reasoning, tool calls, bundled tokens).
Exits non-zero on the first failure. Every response must parse and carry usage.
"""
import sys

import anthropic
import openai

base = sys.argv[1].rstrip("/")
oai = openai.OpenAI(base_url=base + "/v1", api_key="sk-test", max_retries=0)
ant = anthropic.Anthropic(base_url=base, api_key="ak-test", max_retries=0)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


# chat, whole
r = oai.chat.completions.create(model="sim", messages=[{"role": "user", "content": "hello"}], max_tokens=7)
check(r.choices[0].message.content, "chat whole: content")
check(r.usage.completion_tokens == 7, "chat whole: usage.completion_tokens == 7")
check(r.choices[0].finish_reason == "length", "chat whole: finish_reason")

# chat, streamed with usage
text, usage, finish = "", None, None
for chunk in oai.chat.completions.create(
    model="sim", messages=[{"role": "user", "content": "hello"}], max_tokens=9,
    stream=True, stream_options={"include_usage": True},
):
    if chunk.usage:
        usage = chunk.usage
    for c in chunk.choices:
        text += c.delta.content or ""
        finish = c.finish_reason or finish
check(text, "chat stream: text")
check(usage is not None and usage.completion_tokens == 9, "chat stream: final usage chunk")
check(finish == "length", "chat stream: finish_reason")

# completions, whole and streamed
r = oai.completions.create(model="sim", prompt="Once upon a time", max_tokens=5)
check(r.choices[0].text and r.usage.completion_tokens == 5, "completions whole")
text, usage = "", None
for chunk in oai.completions.create(model="sim", prompt="Once", max_tokens=6, stream=True,
                                    stream_options={"include_usage": True}):
    if chunk.usage:
        usage = chunk.usage
    for c in chunk.choices:
        text += c.text or ""
check(text and usage is not None and usage.completion_tokens == 6, "completions stream")

# messages, whole and streamed
m = ant.messages.create(model="sim", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
check(m.content[0].text and m.usage.output_tokens == 8, "messages whole")
check(m.stop_reason == "max_tokens", "messages whole: stop_reason")
with ant.messages.stream(model="sim", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
    text = "".join(s.text_stream)
    final = s.get_final_message()
check(text and final.usage.output_tokens == 10 and final.usage.input_tokens > 0, "messages stream")

# responses, whole and streamed
r = oai.responses.create(model="sim", input="hello", max_output_tokens=6)
check(r.output_text and r.usage.output_tokens == 6, "responses whole: text and usage")
check(r.status == "incomplete", "responses whole: cut by max_output_tokens")
events = list(oai.responses.create(model="sim", input="hello", max_output_tokens=6, stream=True))
deltas = [e for e in events if e.type == "response.output_text.delta"]
check(len(deltas) == 6 and "".join(d.delta for d in deltas), "responses stream: 6 text deltas")
check(events[0].type == "response.created", "responses stream: created first")
last = events[-1]
check(last.type == "response.incomplete" and last.response.usage.output_tokens == 6,
      "responses stream: terminal event with usage")
check([e.sequence_number for e in events] == list(range(len(events))), "responses stream: sequence numbers")

# embeddings
e = oai.embeddings.create(model="sim", input=["a b c", "d e f g"])
check(len(e.data) == 2 and len(e.data[0].embedding) == 384, "embeddings: 2 vectors of 384")
check(e.usage.prompt_tokens > 0, "embeddings: usage.prompt_tokens")

if len(sys.argv) > 2:
    rb = sys.argv[2].rstrip("/")
    ro = openai.OpenAI(base_url=rb + "/v1", api_key="sk-test", max_retries=0)
    ra = anthropic.Anthropic(base_url=rb, api_key="ak-test", max_retries=0)
    reasoning, text, usage, events = "", "", None, 0
    for chunk in ro.chat.completions.create(
        model="sim", messages=[{"role": "user", "content": "hi"}], max_tokens=9,
        stream=True, stream_options={"include_usage": True},
    ):
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            events += 1
            reasoning += getattr(c.delta, "reasoning_content", None) or ""
            text += c.delta.content or ""
    check(reasoning and text, "reasoning chat stream: reasoning_content then content")
    check(usage.completion_tokens == 9 and usage.completion_tokens_details.reasoning_tokens == 3,
          "reasoning chat stream: usage counts reasoning tokens")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    name, args, finish = None, "", None
    for chunk in ro.chat.completions.create(
        model="sim", messages=[{"role": "user", "content": "hi"}], max_tokens=8, tools=tools, stream=True,
    ):
        for c in chunk.choices:
            for call in c.delta.tool_calls or []:
                name = name or call.function.name
                args += call.function.arguments or ""
            finish = c.finish_reason or finish
    check(name == "get_weather" and args, "tool call stream: name and arguments")
    r = ro.chat.completions.create(model="sim", messages=[{"role": "user", "content": "hi"}],
                                   max_tokens=8, tools=tools, tool_choice="auto")
    check(r.choices[0].message.tool_calls[0].function.name == "get_weather", "tool call whole")
    kinds = [e.type for e in ro.responses.create(model="sim", input="hi", max_output_tokens=8, stream=True)]
    check("response.reasoning_text.delta" in kinds and "response.output_text.delta" in kinds,
          "reasoning responses stream: reasoning then text deltas")
    r = ro.responses.create(model="sim", input="hi", max_output_tokens=8)
    check(r.usage.output_tokens_details.reasoning_tokens == 3, "reasoning responses whole: usage")
    thinking = [e for e in ra.messages.create(model="sim", max_tokens=8, stream=True,
                                              messages=[{"role": "user", "content": "hi"}])
                if e.type == "content_block_delta" and e.delta.type == "thinking_delta"]
    check(thinking, "anthropic stream: thinking deltas")

# errors come back as the SDKs' typed errors
try:
    oai.chat.completions.create(model="sim", messages=[], max_tokens=3)
    check(False, "empty messages must be rejected")
except openai.BadRequestError as e:
    check(e.status_code == 400, "chat 400 status")
try:
    ant.messages.create(model="sim", max_tokens=3, messages=[])
    check(False, "empty messages must be rejected (anthropic)")
except anthropic.BadRequestError as e:
    check(e.status_code == 400, "messages 400 status")

print(f"python clients: {checks} checks passed (openai {openai.__version__}, anthropic {anthropic.__version__})")
