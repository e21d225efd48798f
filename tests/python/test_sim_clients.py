"""Drive `llmbench sim` with the official openai and anthropic Python clients.

Usage: python test_sim_clients.py BASE_URL   (e.g. http://127.0.0.1:8000)
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
