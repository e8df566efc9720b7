#!/usr/bin/env bash
# Compiles bench/profile/refGenerate.cpp against a llama.cpp built by bench/llamacpp/build.sh.
#   bash bench/profile/buildRef.sh            -> bench/.build/bin/ref-generate (default build)
#   bash bench/profile/buildRef.sh haswell    -> bench/.build/bin-haswell/ref-generate (for valgrind)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SUFFIX="${1:+-$1}"
SRC="$ROOT/bench/.build/llama.cpp"
LIB="$ROOT/bench/.build/llama.cpp-build$SUFFIX/bin"
OUT="$ROOT/bench/.build/bin$SUFFIX"
mkdir -p "$OUT"
g++ -O2 -g -std=c++17 -I"$SRC/include" -I"$SRC/ggml/include" "$ROOT/bench/profile/refGenerate.cpp" \
	-L"$LIB" -lllama -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$LIB" -o "$OUT/ref-generate"
echo "built $OUT/ref-generate"
