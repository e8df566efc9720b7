#!/usr/bin/env bash
# Builds llama.cpp's llama-server once, from the llama.cpp source the installed node-llama-cpp ships,
# and keeps it in a per-user cache OUTSIDE the clone, keyed by the bundle's commit:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/rust-kb-pipeline/llama.cpp/<commit>/bin/llama-server (+ its .so files)
#
# where src/util/llamaCppTools.ts finds it (for --backend llama-server and the model-server tests).
# A second call with the cache present does nothing. The build itself is bench/llamacpp/build.sh
# with only the llama-server target (NLC_BENCH_TARGETS=llama-server); when bench/.build already holds
# a llama-server of the same commit (a developer ran bench/llamacpp/build.sh), it is copied instead
# of built again. The binary and the shared libraries it was linked with are copied (not linked)
# into the cache with RUNPATH $ORIGIN, so the cache keeps working when bench/.build is deleted.
#
# Usage: bash scripts/buildLlamaServer.sh            (offline: needs cmake, ninja, a C++ compiler, git)
# Prints the binary's path on the last line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle"
if [[ ! -f "$BUNDLE" ]]; then
	echo "missing $BUNDLE: run npm ci first" >&2
	exit 1
fi
commit="$(git bundle list-heads "$BUNDLE" | awk '/HEAD/{print $1}')"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/rust-kb-pipeline/llama.cpp"
DEST="$CACHE_ROOT/$commit"

works() { [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1; }
# The project's llama.cpp patches (bench/llamacpp/patches/*.diff), as bench/llamacpp/build.sh records
# them in build-info.json: a cached or bench/.build binary built without the current patches is rebuilt.
patches=()
for patch in "$ROOT"/bench/llamacpp/patches/*.diff; do
	[[ -f "$patch" ]] && patches+=("$(basename "$patch" .diff)@$(sha256sum "$patch" | cut -c1-12)")
done
want_patches="\"patches\":\"${patches[*]:-}\""
has_patches() { [[ -f "$1" ]] && grep -qF "$want_patches" "$1"; }

if works "$DEST/bin/llama-server" && has_patches "$DEST/build-info.json"; then
	echo "llama-server $commit is cached"
	echo "$DEST/bin/llama-server"
	exit 0
fi

BENCH_BIN="$ROOT/bench/.build/bin"
same_commit() { [[ -f "$BENCH_BIN/build-info.json" ]] && grep -q "\"commit\":\"$commit\"" "$BENCH_BIN/build-info.json" && grep -q '"openmp":"OFF"' "$BENCH_BIN/build-info.json" && has_patches "$BENCH_BIN/build-info.json"; }
if works "$BENCH_BIN/llama-server" && same_commit; then
	echo "reusing bench/.build's llama-server (commit $commit)"
else
	NLC_BENCH_TARGETS=llama-server bash "$ROOT/bench/llamacpp/build.sh"
fi

src="$(readlink -f "$BENCH_BIN/llama-server")"
tmp="$DEST.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin"
trap 'rm -rf "$tmp"' EXIT
cp "$src" "$tmp/bin/llama-server"
# The libraries of the build tree it links (libllama, libggml*, libllama-common, ...), under the
# names the loader asks for; system libraries stay the system's.
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
cp "$BENCH_BIN/build-info.json" "$tmp/build-info.json" 2>/dev/null || true
rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
echo "llama-server $commit cached"
echo "$DEST/bin/llama-server"
