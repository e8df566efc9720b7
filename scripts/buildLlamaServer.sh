#!/usr/bin/env bash
# Builds llama.cpp's llama-server once, from the llama.cpp source the installed node-llama-cpp ships
# (node_modules/node-llama-cpp/llama/gitRelease.bundle), with node-llama-cpp's own patches
# (node_modules/node-llama-cpp/llama/patches) and the project's (bench/llamacpp/patches), into a
# per-user cache OUTSIDE the clone, keyed by the bundle's commit:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/rust-kb-pipeline/llama.cpp/<commit>/bin/llama-server
#   ${XDG_CACHE_HOME:-$HOME/.cache}/rust-kb-pipeline/llama.cpp/<commit>/build-info.json   (commit, patches)
#
# where src/util/llamaCppTools.ts finds it. `npm install` runs this once through
# scripts/installLlamaServer.ts (a progress line, the output in a log file, never a failed install).
#
# What it builds: the llama-server target only, linked statically (BUILD_SHARED_LIBS=OFF): one
# self-contained binary, no shared libraries to copy or RUNPATH to fix, on Linux and macOS alike.
# Ninja when installed, else make; one job per core. CPU instruction sets: on Linux x86-64 those of
# the variant node-llama-cpp's prebuilt binary loads on this machine (as bench/llamacpp/build.sh
# does, so the benchmarks' figures carry over); elsewhere (macOS, Arm) the compiler's native target.
# On macOS Metal is on (llama.cpp's default there, the shaders embedded in the binary).
#
# A cached binary whose build-info.json lists other project patches is rebuilt. When bench/.build
# holds a llama-server of the same commit and patches (a developer ran bench/llamacpp/build.sh), it
# is copied with its shared libraries instead of building (Linux).
#
# The source and build tree (<commit>.work/ beside the cache folder) stay after a failed or
# interrupted build, so the next call resumes where it stopped; a successful build removes them.
#
# Usage: bash scripts/buildLlamaServer.sh           build when needed; prints the binary's path last
#        bash scripts/buildLlamaServer.sh --check   exit 0 (and the path) when the cache is current, 1 when not
# Needs: cmake, a C++ compiler, git, and ninja or make (macOS: Xcode's command-line tools + cmake).
# Exit 75: another build of the same commit is running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NLC="$ROOT/node_modules/node-llama-cpp/llama"
BUNDLE="$NLC/gitRelease.bundle"
mode="${1:-build}"
if [[ ! -f "$BUNDLE" ]]; then
	echo "missing $BUNDLE: run npm install first" >&2
	exit 1
fi
# The bundle's header names its HEAD (read without git, as src/util/llamaCppTools.ts does).
commit="$(LC_ALL=C head -c 4096 "$BUNDLE" | LC_ALL=C grep -a -m1 -E '^[0-9a-f]{40} HEAD$' | cut -c1-40 || true)"
if [[ -z "$commit" ]]; then
	echo "$BUNDLE names no HEAD commit" >&2
	exit 1
fi
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/rust-kb-pipeline/llama.cpp"
DEST="$CACHE_ROOT/$commit"

sha256_12() {
	if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -c1-12
}
works() { [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1; }
# The project's patches as build-info.json records them ("name@sha256[:12] ..."); bench/llamacpp/build.sh
# writes the same list, so a bench/.build binary can be compared too.
patches=()
for patch in "$ROOT"/bench/llamacpp/patches/*.diff; do
	[[ -f "$patch" ]] && patches+=("$(basename "$patch" .diff)@$(sha256_12 "$patch")")
done
want_patches="\"patches\":\"${patches[*]:-}\""
has_patches() { [[ -f "$1" ]] && grep -qF "$want_patches" "$1"; }

if works "$DEST/bin/llama-server" && has_patches "$DEST/build-info.json"; then
	echo "llama-server $commit is cached"
	echo "$DEST/bin/llama-server"
	exit 0
fi
if [[ "$mode" == "--check" ]]; then
	echo "llama-server $commit is not cached (or was built with other patches): $DEST"
	exit 1
fi

install_into_cache() { # $1: a folder holding bin/ and build-info.json; moved into place as one step
	rm -rf "$DEST"
	mv "$1" "$DEST"
	echo "llama-server $commit cached"
	echo "$DEST/bin/llama-server"
}

# A developer's bench/.build of the same commit and patches (shared libraries, Linux): copied.
BENCH_BIN="$ROOT/bench/.build/bin"
same_commit() { [[ -f "$BENCH_BIN/build-info.json" ]] && grep -q "\"commit\":\"$commit\"" "$BENCH_BIN/build-info.json" && grep -q '"openmp":"OFF"' "$BENCH_BIN/build-info.json" && has_patches "$BENCH_BIN/build-info.json"; }
if [[ "$(uname -s)" == Linux ]] && command -v ldd >/dev/null 2>&1 && works "$BENCH_BIN/llama-server" && same_commit; then
	echo "== reusing bench/.build's llama-server (commit $commit)"
	src="$(readlink -f "$BENCH_BIN/llama-server")"
	tmp="$DEST.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp/bin"
	trap 'rm -rf "$tmp"' EXIT
	cp "$src" "$tmp/bin/llama-server"
	# The libraries of the build tree it links (libllama, libggml*, ...), under the names the loader
	# asks for; system libraries stay the system's.
	build_dir="$(dirname "$src")"
	ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
		case "$path" in
		"$build_dir"/*) cp -L "$path" "$tmp/bin/$name" ;;
		esac
	done
	node "$ROOT/scripts/setElfRunpath.mjs" '$ORIGIN' "$tmp/bin/llama-server" "$tmp"/bin/*.so* >/dev/null
	if ldd "$tmp/bin/llama-server" | grep -q "not found\|$build_dir"; then
		echo "the copied llama-server does not load from the cache alone:" >&2
		ldd "$tmp/bin/llama-server" >&2
		exit 1
	fi
	works "$tmp/bin/llama-server" || { echo "the copied llama-server does not run" >&2; exit 1; }
	cp "$BENCH_BIN/build-info.json" "$tmp/build-info.json"
	install_into_cache "$tmp"
	trap - EXIT
	exit 0
fi

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v ninja >/dev/null 2>&1 || command -v make >/dev/null 2>&1 || missing+=("ninja or make")
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "cannot build llama-server: missing ${missing[*]}" >&2
	exit 1
fi

WORK="$CACHE_ROOT/$commit.work"
SRC="$WORK/llama.cpp"
OUT="$WORK/build"
mkdir -p "$WORK"
# One build per commit at a time (two clones installing at once share the cache).
LOCK="$WORK/lock"
if ! mkdir "$LOCK" 2>/dev/null; then
	other="$(cat "$LOCK/pid" 2>/dev/null || true)"
	if [[ -n "$other" ]] && kill -0 "$other" 2>/dev/null; then
		echo "another build of llama-server $commit is running (pid $other); its binary lands in $DEST" >&2
		exit 75
	fi
	rm -rf "$LOCK"
	mkdir "$LOCK"
fi
echo $$ >"$LOCK/pid"
trap 'rm -rf "$LOCK"' EXIT

# The source: the bundle's commit with node-llama-cpp's patches, then the project's. The list of
# patches applied is recorded, so a resumed build keeps its tree (and its compiled objects).
nlc_patches=()
for patch in "$NLC"/patches/*.diff; do
	[[ -f "$patch" ]] && nlc_patches+=("$(basename "$patch" .diff)@$(sha256_12 "$patch")")
done
want_tree="$commit node-llama-cpp: ${nlc_patches[*]:-} project: ${patches[*]:-}"
if [[ ! -d "$SRC/.git" ]]; then
	echo "== extracting llama.cpp $commit from node-llama-cpp's bundle"
	rm -rf "$SRC"
	git -c advice.detachedHead=false clone -q "$BUNDLE" "$SRC"
fi
if [[ "$(cat "$WORK/tree" 2>/dev/null || true)" != "$want_tree" ]]; then
	echo "== applying the patches"
	rm -f "$WORK/tree"
	git -C "$SRC" -c advice.detachedHead=false checkout -q --force --detach "$commit"
	git -C "$SRC" clean -q -f -d
	for patch in "$NLC"/patches/*.diff "$ROOT"/bench/llamacpp/patches/*.diff; do
		[[ -f "$patch" ]] || continue
		git -C "$SRC" apply "$patch"
		echo "applied $(basename "$patch")"
	done
	echo "$want_tree" >"$WORK/tree"
fi

os="$(uname -s)"
arch="$(uname -m)"
variant=native
if [[ "$os" == Linux && "$arch" == x86_64 ]]; then
	flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
	has() { [[ " $flags " == *" $1 "* ]]; }
	if has avx512f && has avx512vbmi && has avx512_vnni && has avx512_bf16; then variant=zen4
	elif has avx512f && has avx512vbmi && has avx512_vnni; then variant=icelake
	elif has avx512f; then variant=skylakex
	elif has avx2 && has fma && has bmi2; then variant=haswell
	fi
fi
case "$variant" in
	zen4) isa=(AVX AVX2 BMI2 FMA F16C AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16) ;;
	icelake) isa=(AVX AVX2 BMI2 FMA F16C AVX512 AVX512_VBMI AVX512_VNNI) ;;
	skylakex) isa=(AVX AVX2 BMI2 FMA F16C AVX512) ;;
	haswell) isa=(AVX AVX2 BMI2 FMA F16C) ;;
	native) isa=() ;;
esac
cpu_flags=()
if [[ "$variant" == native ]]; then
	cpu_flags+=(-DGGML_NATIVE=ON)
else
	cpu_flags+=(-DGGML_NATIVE=OFF -DGGML_SSE42=ON)
	for f in "${isa[@]}"; do cpu_flags+=("-DGGML_$f=ON"); done
fi
jobs="$(getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)"
if command -v ninja >/dev/null 2>&1; then generator=Ninja; else generator="Unix Makefiles"; fi
# A build tree configured with the other generator cannot be reused.
if [[ -f "$OUT/CMakeCache.txt" ]] && ! grep -qx "CMAKE_GENERATOR:INTERNAL=$generator" "$OUT/CMakeCache.txt"; then rm -rf "$OUT"; fi

echo "== configuring: llama.cpp $commit, $os $arch, CPU variant $variant, static, $generator, $jobs jobs"
cmake -S "$SRC" -B "$OUT" -G "$generator" \
	-DCMAKE_BUILD_TYPE=Release \
	-DBUILD_SHARED_LIBS=OFF \
	-DGGML_OPENMP=OFF \
	-DGGML_CCACHE=OFF \
	-DLLAMA_BUILD_TESTS=OFF \
	-DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_UI=OFF \
	-DLLAMA_USE_PREBUILT_UI=OFF \
	-DLLAMA_OPENSSL=OFF \
	"${cpu_flags[@]}"
echo "== building llama-server"
start=$(date +%s)
cmake --build "$OUT" --config Release -j "$jobs" --target llama-server
seconds=$(($(date +%s) - start))
echo "built llama-server in $seconds s"

bin="$OUT/bin/llama-server"
works "$bin" || { echo "the built $bin does not run" >&2; exit 1; }
tmp="$DEST.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin"
cp "$bin" "$tmp/bin/llama-server"
printf '{"commit":"%s","variant":"%s","openmp":"OFF","linkage":"static","patches":"%s","nodeLlamaCppPatches":"%s","os":"%s %s","jobs":%s,"buildSeconds":%s,"builtAt":"%s"}\n' \
	"$commit" "$variant" "${patches[*]:-}" "${nlc_patches[*]:-}" "$os" "$arch" "$jobs" "$seconds" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/build-info.json"
install_into_cache "$tmp"
# The source and build tree are no longer needed (a few hundred MB).
rm -rf "$WORK"
trap - EXIT
