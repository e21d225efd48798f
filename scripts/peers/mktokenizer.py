#!/usr/bin/env python3
"""Write a Hugging Face tokenizer directory (tokenizer.json, tokenizer_config.json) from the
tokenizer that a GPT-2-style BPE GGUF file carries, so that the peer tools, which load a
tokenizer with transformers' AutoTokenizer and cannot reach the hub here, get one offline.

usage: mktokenizer.py MODEL.gguf OUT_DIR        (needs the `gguf` package)

Used with SmolLM2-135M-Instruct (the real-server model): a byte-level BPE of 49,152 tokens.
"""
import json
import os
import sys

from gguf import GGUFReader


def field(r, key):
    f = r.fields.get(key)
    if f is None:
        return None
    if len(f.types) > 1:  # an array
        return [field_item(f, i) for i in f.data]
    return field_item(f, f.data[0])


def field_item(f, i):
    part = f.parts[i]
    if f.types[-1].name == "STRING":
        return bytes(part).decode("utf-8")
    return part.tolist()[0]


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    r = GGUFReader(sys.argv[1])
    model = field(r, "tokenizer.ggml.model")
    if model != "gpt2":
        raise SystemExit(f"mktokenizer.py: tokenizer model {model!r}: only gpt2 (byte-level BPE) is handled")
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = field(r, "tokenizer.ggml.merges")
    bos = tokens[field(r, "tokenizer.ggml.bos_token_id")]
    eos = tokens[field(r, "tokenizer.ggml.eos_token_id")]
    template = field(r, "tokenizer.chat_template")
    # token_type 3: control (special) tokens, such as <|im_start|>
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 3
    ]
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": eos,
        "model_max_length": 8192,
        "clean_up_tokenization_spaces": False,
        "add_prefix_space": False,
    }
    if template:
        cfg["chat_template"] = template
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": bos, "eos_token": eos, "unk_token": eos}, f, indent=1)
    # A config.json with the model type lets tools that read it (AutoConfig) find one offline.
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
                   "vocab_size": len(tokens), "max_position_embeddings": 8192}, f, indent=1)
    print(f"{out}: {len(tokens)} tokens, {len(merges)} merges, {len(added)} special")


if __name__ == "__main__":
    main()
