# Pinned versions of the peer tools (sourced by install.sh and run.sh).
GUIDELLM_VERSION=0.8.1
AIPERF_VERSION=0.13.0
# 0.34.0 (newest) cannot be installed from PyPI: it pins flashinfer-python==0.7.3, which PyPI lacks.
VLLM_VERSION=0.33.0
OHA_VERSION=1.16.0
# Helpers: gguf reads SmolLM2's tokenizer out of its GGUF (scripts/peers/mktokenizer.py).
GGUF_VERSION=0.19.0
# The local Hugging Face cache entry's revision (any 40 hex digits).
TOKENIZER_REV=0123456789abcdef0123456789abcdef01234567
