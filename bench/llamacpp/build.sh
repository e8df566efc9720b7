#!/usr/bin/env bash
# Builds llama.cpp's own tools from the llama.cpp source that the installed node-llama-cpp ships
# (node_modules/node-llama-cpp/llama/gitRelease.bundle), once, into bench/.build/ (git-ignored).
#
# CPU build with the flags that matter matched to node-llama-cpp's prebuilt linux-x64 binary:
#   - Release build, no OpenMP (the prebuilt links no libgomp: ggml's own thread pool is used);
#   - the same llama.cpp commit, with the same patch node-llama-cpp applies (llama/patches/*.diff);
#   - the CPU instruction sets of the variant the prebuilt loads on this machine. The prebuilt is
#     built with GGML_CPU_ALL_VARIANTS + GGML_BACKEND_DL and picks a variant at run time; building
#     every variant takes too long on 2 cores, so this builds the one variant that fits the host
#     (NLC_BENCH_CPU_VARIANT=zen4|icelake|skylakex|haswell|native, default: detected from
#     /proc/cpuinfo with the same feature sets as ggml/src/CMakeLists.txt).
#
# Usage: bash bench/llamacpp/build.sh            (foreground)
#        nohup bash bench/llamacpp/build.sh > bench/.build/build.log 2>&1 &
# Offline: needs only cmake, a C++ compiler and git. ~15+ min on 2 cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_ROOT="$ROOT/bench/.build"
SRC="$BUILD_ROOT/llama.cpp"
# A non-default NLC_BENCH_CPU_VARIANT builds into its own folders (bench/.build/llama.cpp-build-<variant>,
# bench/.build/bin-<variant>): the profile needs an AVX2-only (haswell) build because valgrind 3.19 cannot
# run AVX-512 code.
# NLC_BENCH_OPENMP=ON builds with OpenMP (llama.cpp's own default; node-llama-cpp's prebuilt has it off)
# into bench/.build/llama.cpp-build-omp and bench/.build/bin-omp.
OPENMP="${NLC_BENCH_OPENMP:-OFF}"
SUFFIX="${NLC_BENCH_CPU_VARIANT:+-$NLC_BENCH_CPU_VARIANT}"
[[ "$OPENMP" == "ON" ]] && SUFFIX="$SUFFIX-omp"
OUT="$BUILD_ROOT/llama.cpp-build$SUFFIX"
BIN="$BUILD_ROOT/bin$SUFFIX"
NLC="$ROOT/node_modules/node-llama-cpp/llama"
BUNDLE="$NLC/gitRelease.bundle"
JOBS="${NLC_BENCH_JOBS:-$(nproc)}"
# llama-simple: a minimal C++ generate loop, used as the reference in the callgrind profile (docs/PROFILE.md).
TARGETS=(llama-bench llama-batched-bench llama-quantize llama-server llama-parallel llama-simple)
if [[ -n "${NLC_BENCH_TARGETS:-}" ]]; then
	read -r -a TARGETS <<< "$NLC_BENCH_TARGETS"
	# The tools share libllama/libllama-common (BUILD_SHARED_LIBS): rebuilding one target after a patch
	# changes those libraries under the tools already built, and a tool left unlinked against the new
	# layout crashes (seen: llama-batched-bench segfaulted after a llama-server-only rebuild). So the
	# tools already in this build are rebuilt with the ones asked for.
	for existing in "$BIN"/llama-*; do
		[[ -e "$existing" ]] || continue
		name="$(basename "$existing")"
		[[ " ${TARGETS[*]} " == *" $name "* ]] || TARGETS+=("$name")
	done
fi

mkdir -p "$BUILD_ROOT"
if [[ ! -f "$BUNDLE" ]]; then
	echo "missing $BUNDLE: run npm install first" >&2
	exit 1
fi
bundle_head="$(git bundle list-heads "$BUNDLE" | awk '/HEAD/{print $1}')"

if [[ ! -d "$SRC/.git" ]]; then
	git clone -q "$BUNDLE" "$SRC"
fi
src_head="$(git -C "$SRC" rev-parse HEAD)"
if [[ "$src_head" != "$bundle_head" ]]; then
	echo "bench/.build/llama.cpp is at $src_head but the bundle is at $bundle_head; delete bench/.build and rerun" >&2
	exit 1
fi
# Apply node-llama-cpp's own patches (idempotent: skipped when already applied).
for patch in "$NLC"/patches/*.diff; do
	[[ -f "$patch" ]] || continue
	if git -C "$SRC" apply --check "$patch" 2>/dev/null; then
		git -C "$SRC" apply "$patch"
		echo "applied $(basename "$patch")"
	fi
done
# Then the project's own patches (bench/llamacpp/patches/*.diff, each described in docs/PROFILE.md),
# the same way: grammar-candidates.diff makes a grammar rejection test the most likely tokens before
# masking the whole vocabulary, and reports rejection counts in llama-server's timings.
project_patches=()
for patch in "$ROOT"/bench/llamacpp/patches/*.diff; do
	[[ -f "$patch" ]] || continue
	if git -C "$SRC" apply --check "$patch" 2>/dev/null; then
		git -C "$SRC" apply "$patch"
		echo "applied $(basename "$patch")"
	elif ! git -C "$SRC" apply --check --reverse "$patch" 2>/dev/null; then
		echo "bench/llamacpp/patches/$(basename "$patch") neither applies nor is applied to bench/.build/llama.cpp; delete bench/.build and rerun" >&2
		exit 1
	fi
	project_patches+=("$(basename "$patch" .diff)@$(sha256sum "$patch" | cut -c1-12)")
done

variant="${NLC_BENCH_CPU_VARIANT:-}"
if [[ -z "$variant" ]]; then
	flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
	has() { [[ " $flags " == *" $1 "* ]]; }
	if has avx512f && has avx512vbmi && has avx512_vnni && has avx512_bf16; then variant=zen4
	elif has avx512f && has avx512vbmi && has avx512_vnni; then variant=icelake
	elif has avx512f; then variant=skylakex
	elif has avx2 && has fma && has bmi2; then variant=haswell
	else variant=native
	fi
fi
case "$variant" in
	zen4) isa=(AVX AVX2 BMI2 FMA F16C AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16) ;;
	icelake) isa=(AVX AVX2 BMI2 FMA F16C AVX512 AVX512_VBMI AVX512_VNNI) ;;
	skylakex) isa=(AVX AVX2 BMI2 FMA F16C AVX512) ;;
	haswell) isa=(AVX AVX2 BMI2 FMA F16C) ;;
	native) isa=() ;;
	*) echo "unknown NLC_BENCH_CPU_VARIANT=$variant" >&2; exit 1 ;;
esac
cpu_flags=()
if [[ "$variant" == native ]]; then
	cpu_flags+=(-DGGML_NATIVE=ON)
else
	cpu_flags+=(-DGGML_NATIVE=OFF -DGGML_SSE42=ON)
	for f in "${isa[@]}"; do cpu_flags+=("-DGGML_$f=ON"); done
fi
echo "llama.cpp $src_head, CPU variant $variant, OpenMP $OPENMP, $JOBS jobs"

cmake -S "$SRC" -B "$OUT" -G Ninja \
	-DCMAKE_BUILD_TYPE=Release \
	-DBUILD_SHARED_LIBS=ON \
	-DGGML_OPENMP="$OPENMP" \
	-DGGML_CCACHE=OFF \
	-DLLAMA_BUILD_TESTS=OFF \
	-DLLAMA_BUILD_UI=OFF \
	-DLLAMA_USE_PREBUILT_UI=OFF \
	-DLLAMA_OPENSSL=OFF \
	"${cpu_flags[@]}"
start=$(date +%s)
cmake --build "$OUT" -j "$JOBS" --target "${TARGETS[@]}"
echo "built ${TARGETS[*]} in $(( $(date +%s) - start )) s"
mkdir -p "$BIN"
for t in "${TARGETS[@]}"; do
	if [[ -e "$OUT/bin/$t" ]]; then ln -sf "$OUT/bin/$t" "$BIN/$t"; fi
done
printf '{"commit":"%s","variant":"%s","openmp":"%s","patches":"%s","builtAt":"%s"}\n' "$src_head" "$variant" "$OPENMP" "${project_patches[*]:-}" "$(date -u +%FT%TZ)" > "$BIN/build-info.json"
echo "done: $BIN"
