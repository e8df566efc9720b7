#!/usr/bin/env bash
# Instruction-count profiles (valgrind --tool=callgrind) of one generate run, for docs/PROFILE.md.
#   bash bench/profile/callgrind.sh NAME -- COMMAND...
# Writes bench/.build/prof/NAME.cg and NAME.log. Valgrind 3.19 cannot execute AVX-512, so under
# valgrind node-llama-cpp's prebuilt picks its haswell (AVX2) CPU variant; the C++ reference must be
# the haswell build (NLC_BENCH_CPU_VARIANT=haswell bash bench/llamacpp/build.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
name="$1"; shift
[[ "$1" == "--" ]] && shift
mkdir -p "$ROOT/bench/.build/prof"
valgrind --tool=callgrind --callgrind-out-file="$ROOT/bench/.build/prof/$name.cg" "$@" > "$ROOT/bench/.build/prof/$name.log" 2>&1
grep -h "tok/s\|tokens in" "$ROOT/bench/.build/prof/$name.log" || true
grep -h "Collected" "$ROOT/bench/.build/prof/$name.log"
