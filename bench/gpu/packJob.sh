#!/usr/bin/env bash
# Makes the pack that lets the job benchmark (`npm run bench -- --job --engine`) run on the GPU
# machine, which has no Node.js, no node_modules and no ../shared (issue 27). Run here, from any
# folder; everything goes into one git-ignored folder (default bench/.build/gpu-job), which the
# device run carries (`carry: ["bench/.build/gpu-job"]`) and bench/gpu/jobGpu.sh unpacks there:
#
#   node.xz              this machine's Node.js binary (official build: needs glibc >= 2.28), xz
#   app.tar.xz           bench/cli.ts and bench/gpu/untrainedModel.ts bundled by esbuild
#                        (bench/gpu/bundleJob.mjs), with the few packages kept outside the bundle:
#                        node-llama-cpp and its CPU prebuilt (token counting, vocabulary-only),
#                        better-sqlite3's addon, the tree-sitter wasm files. The prebuilt addons need
#                        glibc >= 2.34 and libstdc++ >= GLIBCXX_3.4.30 (gcc 12), e.g. Ubuntu 22.04.
#   llama.cpp-src.tar.xz the llama.cpp source node-llama-cpp ships, as bench/llamacpp/build.sh left it
#                        in bench/.build/llama.cpp (node-llama-cpp's and the project's patches applied),
#                        without .git, models, docs, tests, examples and the web UI's sources;
#                        jobGpu.sh applies any bench/llamacpp/patches/*.diff not in it yet.
#   corpus.tar.xz        the first 30 files by path of ../shared/corpus/rust-research (the job slice)
#   manifest.txt         what is in the pack: versions, commit, patches, files, sizes
#
# Not in the pack: the trained model (test/fixtures/models/rust-kb-tiny.gguf is tracked and travels
# with the working tree), the random-weight model of its shape (jobGpu.sh writes it there in a
# second from the bundle: bench/gpu/untrainedModel.ts, seeded, the same bytes every time), and
# examples/notes (tracked).
#
# Usage: bash bench/gpu/packJob.sh                 (needs bench/llamacpp/build.sh to have run once)
#        PACK=/other/dir SLICE=30 NODE_BIN=/usr/bin/node bash bench/gpu/packJob.sh
# The device call's working tree (tracked and untracked files) and carried folders share 64 MiB.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PACK="${PACK:-$ROOT/bench/.build/gpu-job}"
NODE_BIN="${NODE_BIN:-$(command -v node)}"
SLICE="${SLICE:-30}"
CORPUS="${CORPUS:-$ROOT/../shared/corpus/rust-research}"
SRC="$ROOT/bench/.build/llama.cpp"
XZ_THREADS="${XZ_THREADS:-$(nproc)}"

node_version="$("$NODE_BIN" --version)"
[[ "$node_version" == v20.* ]] || { echo "Node 20 expected at $NODE_BIN, found $node_version" >&2; exit 1; }
[[ -f "$SRC/CMakeLists.txt" ]] || { echo "no llama.cpp source at $SRC: run bash bench/llamacpp/build.sh first" >&2; exit 1; }
[[ -d "$CORPUS" ]] || { echo "no corpus at $CORPUS" >&2; exit 1; }
for patch in "$ROOT"/bench/llamacpp/patches/*.diff; do
	[[ -f "$patch" ]] || continue
	git -C "$SRC" apply --check --reverse "$patch" 2>/dev/null ||
		echo "warning: $(basename "$patch") is not applied to $SRC (jobGpu.sh applies it on the GPU machine)" >&2
done

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
# The compressed Node binary (the slow part) is kept when the binary is the same.
node_sha="$(sha256sum "$NODE_BIN" | cut -c1-64)"
if [[ -f "$PACK/node.xz" && "$(cat "$PACK/node.sha256" 2>/dev/null)" == "$node_sha" ]]; then
	mv "$PACK/node.xz" "$STAGE/node.xz"
fi
rm -rf "$PACK"
mkdir -p "$PACK"
start=$(date +%s)

echo "node: $NODE_BIN $node_version"
if [[ -f "$STAGE/node.xz" ]]; then mv "$STAGE/node.xz" "$PACK/node.xz"; else xz -T"$XZ_THREADS" -9 -c "$NODE_BIN" > "$PACK/node.xz"; fi
echo "$node_sha" > "$PACK/node.sha256"

echo "app: esbuild bundle"
node "$ROOT/bench/gpu/bundleJob.mjs" "$STAGE/app"
tar -C "$STAGE/app" -cf - . | xz -T"$XZ_THREADS" -9 > "$PACK/app.tar.xz"

echo "llama.cpp source: $SRC"
# What CMake needs for llama-server, llama-bench and llama-batched-bench (tests and examples are
# configured off; tools/ui keeps its CMakeLists.txt and the small embedding code, not the web app).
tar -C "$(dirname "$SRC")" \
	--exclude=.git --exclude='llama.cpp/models' --exclude='llama.cpp/docs' --exclude='llama.cpp/tests' \
	--exclude='llama.cpp/examples' --exclude='llama.cpp/media' --exclude='llama.cpp/gguf-py' \
	--exclude='llama.cpp/benches' --exclude='llama.cpp/conversion' --exclude='llama.cpp/app' \
	--exclude='llama.cpp/tools/ui/src' --exclude='llama.cpp/tools/ui/static' --exclude='llama.cpp/tools/ui/tests' \
	--exclude='llama.cpp/tools/ui/node_modules' \
	-cf - "$(basename "$SRC")" | xz -T"$XZ_THREADS" -9 > "$PACK/llama.cpp-src.tar.xz"

echo "corpus: the first $SLICE files by path of $CORPUS"
# The job bench's own order (bench/job/jobCli.ts corpusFiles): .md/.markdown/.txt/.json by relative path.
mapfile -t files < <(cd "$CORPUS" && find . -type f \( -name '*.md' -o -name '*.markdown' -o -name '*.txt' -o -name '*.json' \) -printf '%P\n' | LC_ALL=C sort | head -n "$SLICE")
mkdir -p "$STAGE/corpus/rust-research"
(cd "$CORPUS" && cp --parents "${files[@]}" "$STAGE/corpus/rust-research/")
tar -C "$STAGE/corpus" -cf - rust-research | xz -T"$XZ_THREADS" -9 > "$PACK/corpus.tar.xz"

{
	echo "made $(date -u +%FT%TZ) by bench/gpu/packJob.sh at $(git -C "$ROOT" rev-parse --short HEAD)"
	echo "node $node_version ($NODE_BIN)"
	echo "llama.cpp $(git -C "$SRC" rev-parse HEAD); modified files: $(git -C "$SRC" status --short --untracked-files=no | wc -l)"
	for patch in "$ROOT"/bench/llamacpp/patches/*.diff; do
		[[ -f "$patch" ]] || continue
		state=missing; git -C "$SRC" apply --check --reverse "$patch" 2>/dev/null && state=applied
		echo "patch $(basename "$patch") $(sha256sum "$patch" | cut -c1-12) $state"
	done
	echo "corpus slice (${#files[@]} files):"
	printf '  %s\n' "${files[@]}"
	echo "sizes:"
	for f in node.xz app.tar.xz llama.cpp-src.tar.xz corpus.tar.xz; do
		printf '  %-22s %6.1f MiB\n' "$f" "$(echo "$(stat -c %s "$PACK/$f") / 1048576" | bc -l)"
	done
} > "$PACK/manifest.txt"
cat "$PACK/manifest.txt"
total=$(du -sb "$PACK" | cut -f1)
tree=$(git -C "$ROOT" ls-files -z --cached --others --exclude-standard | (cd "$ROOT" && du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1))
printf 'pack: %.1f MiB in %s (%d s); working tree %.1f MiB; together %.1f MiB of the 64 MiB a device call carries\n' \
	"$(echo "$total / 1048576" | bc -l)" "$PACK" $(( $(date +%s) - start )) "$(echo "$tree / 1048576" | bc -l)" "$(echo "($total + $tree) / 1048576" | bc -l)"
