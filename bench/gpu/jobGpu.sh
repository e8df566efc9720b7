#!/usr/bin/env bash
# The whole job on the GPU machine (issue 27): the real pipeline (graph, scheduler, checkpoints; the
# code check's rustc off, tree-sitter on) driving a CUDA llama-server built there, through the job
# benchmark's engine mode (bench/job/jobCli.ts --engine), with llama.cpp's lower bound measured by the
# CUDA llama-bench and llama-batched-bench in the same call. The machine has no Node.js: this runs the
# pack bench/gpu/packJob.sh made here (carried in the device call: `carry: ["bench/.build/gpu-job"]`).
#
# Steps: unpack Node and the bundle into $WORK; build llama-server, llama-bench and llama-batched-bench
# with CUDA from the pack's llama.cpp source (plus any bench/llamacpp/patches/*.diff not yet in it) for
# the GPU's own architecture only; check that llama-server puts every layer on the GPU; write the
# random-weight model of the trained model's shape; run the job bench once per entry of RUNS; leave
# the results in $OUT (at most 8 files come back from a device call: job-gpu.md, log.txt and
# job-gpu-results.tar.gz with every report, JSON, SVG, server check, build log and GPU samples).
#
# How the bundle finds things: it runs as if from a checkout at $WORK/root (RUST_KB_BUNDLE_ROOT, see
# bench/gpu/bundleJob.mjs), a folder of links to this repository's files, with node_modules -> the
# pack's packages and bench/.build/bin -> the llama.cpp tools of this call. The job bench takes
# llama-server from bench/.build/bin (no node-llama-cpp source bundle there, so no build cache is
# looked in) and the lower bound's tools from the same folder. llama-server gets the job bench's usual
# arguments (src/llm/LlamaServerBackend.ts): no -ngl, so llama.cpp's default applies, which is "auto"
# at this commit (common/common.h: n_gpu_layers = -1, fit to free VRAM): every layer of these small
# models; the server check below shows the count. llama-bench offloads 99 layers by default.
#
# Usage on the GPU machine, from the repository root (the device call's working directory):
#   OUT=$OUT bash bench/gpu/jobGpu.sh
# Selectable parts (environment):
#   RUNS="notes-trained notes-random slice-trained slice-random"  which runs, in order (default all four):
#        notes-* = examples/notes (10 files), slice-* = the pack's first 30 corpus files;
#        *-trained = test/fixtures/models/rust-kb-tiny.gguf, *-random = its shape with random weights
#   BENCH_ARGS="--no-grammar"   extra job-bench arguments for every run (e.g. --concurrency 6)
#   LLAMA_BIN=DIR               use built tools from DIR instead of building (a CPU test here:
#                               LLAMA_BIN=bench/.build/bin)
#   WORK=/tmp/job-gpu           unpack and build folder; a build already in $WORK/build is reused
#   DEADLINE_S=540              seconds from the start after which no run starts and a running one is
#                               stopped, so the results are packed inside the device's 10 minutes
#   PACK=bench/.build/gpu-job   the pack; CUDA_ARCH=90 overrides nvidia-smi's compute capability
# Locally (CPU, no build; PATH_WITHOUT_NODE: a folder of links to /usr/bin and /bin minus node,
# bench/gpu/README.md):
#   env -i PATH=$PATH_WITHOUT_NODE OUT=/tmp/job-out LLAMA_BIN=$PWD/bench/.build/bin RUNS=notes-trained bash bench/gpu/jobGpu.sh
set -uo pipefail

T0=$(date +%s)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PACK="$(realpath -m "${PACK:-$ROOT/bench/.build/gpu-job}")"
OUT="$(realpath -m "${OUT:-/tmp/job-gpu-out}")"
WORK="$(realpath -m "${WORK:-/tmp/job-gpu}")"
RUNS="${RUNS:-notes-trained notes-random slice-trained slice-random}"
# The pack's node-llama-cpp is its CPU build, so without --concurrency the job bench would apply the
# CPU engine's files-in-flight rule (src/llm/cpuFilesInFlight.ts) to the CUDA llama-server: one file
# per sequence, as a run on a GPU does, unless BENCH_ARGS says otherwise.
BENCH_ARGS="${BENCH_ARGS:---concurrency 30}"
DEADLINE_S="${DEADLINE_S:-540}"
RES="$WORK/results"
# nvcc where the CUDA toolkit usually is, when PATH lacks it (CMake finds the toolkit through it).
command -v nvcc >/dev/null || { [[ -x /usr/local/cuda/bin/nvcc ]] && PATH="$PATH:/usr/local/cuda/bin"; }
mkdir -p "$OUT" "$WORK" "$RES"
rm -rf "${RES:?}"/*
log() { echo "[$(date -u +%T) +$(( $(date +%s) - T0 ))s] $*" | tee -a "$RES/log.txt" >&2; }
left() { echo $(( DEADLINE_S - ($(date +%s) - T0) )); }

# Results are packed whatever happens (a failed step, the deadline).
finish() {
	[[ -n "${SMI_PID:-}" ]] && kill "$SMI_PID" 2>/dev/null
	cp "$RES/summary.md" "$OUT/job-gpu.md" 2>/dev/null
	cp "$RES/log.txt" "$OUT/log.txt" 2>/dev/null
	tar -C "$RES" -czf "$OUT/job-gpu-results.tar.gz" . 2>/dev/null
	log "done in $(( $(date +%s) - T0 )) s; $OUT: $(ls "$OUT" | tr '\n' ' ')"
}
trap finish EXIT

# xz may be missing on the machine: Python's lzma does the same.
unxz_to() { # unxz_to FILE.xz DEST
	if command -v xz >/dev/null; then xz -dc "$1" > "$2"
	else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
untar_xz() { # untar_xz FILE.tar.xz DIR
	if command -v xz >/dev/null; then tar -xJf "$1" -C "$2"
	else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; fi
}

{
	echo "== machine"; date -u +%FT%TZ; uname -a; nproc; lscpu 2>/dev/null | grep -m1 'Model name'
	free -g 2>/dev/null | head -2; ldd --version 2>&1 | head -1
	for t in nvidia-smi nvcc cmake ninja gcc git patch xz curl python3; do printf '%s: %s\n' "$t" "$(command -v "$t" || echo missing)"; done
	nvcc --version 2>/dev/null | tail -2; gcc --version 2>/dev/null | head -1; cmake --version 2>/dev/null | head -1
	nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv 2>&1
	echo "node on PATH: $(command -v node || echo none)"
	echo "== pack"; cat "$PACK/manifest.txt" 2>&1
} > "$RES/machine.txt" 2>&1
cat "$RES/machine.txt" >&2

log "unpack Node and the bundle into $WORK"
[[ -f "$PACK/node.xz" && -f "$PACK/app.tar.xz" ]] || { log "no pack at $PACK: run bash bench/gpu/packJob.sh and carry bench/.build/gpu-job"; exit 1; }
mkdir -p "$WORK/node" "$WORK/app"
unxz_to "$PACK/node.xz" "$WORK/node/node" && chmod +x "$WORK/node/node"
NODE="$WORK/node/node"
rm -rf "$WORK/app" && mkdir -p "$WORK/app" && untar_xz "$PACK/app.tar.xz" "$WORK/app"
"$NODE" --version > "$RES/node-version.txt" 2>&1 || { log "the packed Node does not start: $(cat "$RES/node-version.txt")"; exit 1; }
log "node $(cat "$RES/node-version.txt") at $NODE"
rm -rf "$WORK/corpus" && mkdir -p "$WORK/corpus" && untar_xz "$PACK/corpus.tar.xz" "$WORK/corpus"

if [[ -n "${LLAMA_BIN:-}" ]]; then
	BIN="$(realpath "$LLAMA_BIN")"
	log "llama.cpp tools: $BIN (no build)"
elif [[ -x "$WORK/build/bin/llama-server" && -x "$WORK/build/bin/llama-bench" && -x "$WORK/build/bin/llama-batched-bench" ]]; then
	BIN="$WORK/build/bin"
	log "llama.cpp tools: $BIN (built by an earlier call)"
else
	log "build llama.cpp with CUDA"
	rm -rf "$WORK/src" && mkdir -p "$WORK/src" && untar_xz "$PACK/llama.cpp-src.tar.xz" "$WORK/src"
	SRC="$WORK/src/llama.cpp"
	patches=()
	for p in "$ROOT"/bench/llamacpp/patches/*.diff; do
		[[ -f "$p" ]] || continue
		name="$(basename "$p" .diff)@$(sha256sum "$p" | cut -c1-12)"
		if command -v git >/dev/null; then
			if git -C "$SRC" apply --check --reverse "$p" 2>/dev/null; then patches+=("$name"); continue; fi
			git -C "$SRC" apply "$p" 2>>"$RES/patches.log" && { patches+=("$name"); log "applied $name"; continue; }
		elif command -v patch >/dev/null; then
			if patch -d "$SRC" -p1 -R --dry-run -s -f < "$p" >/dev/null 2>&1; then patches+=("$name"); continue; fi
			patch -d "$SRC" -p1 -s -f < "$p" >>"$RES/patches.log" 2>&1 && { patches+=("$name"); log "applied $name"; continue; }
		fi
		log "patch $name neither applies nor is in the source (see patches.log); building without it"
	done
	arch="${CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')}"
	arch="${arch:-90}"
	gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
	b0=$(date +%s)
	cmake -S "$SRC" -B "$WORK/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
		-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
		-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF > "$RES/cmake.log" 2>&1 ||
		{ tail -40 "$RES/cmake.log" >&2; log "cmake failed"; exit 1; }
	cmake --build "$WORK/build" -j "$(nproc)" --target llama-server llama-bench llama-batched-bench > "$RES/build.log" 2>&1 ||
		{ tail -60 "$RES/build.log" >&2; log "build failed"; exit 1; }
	BIN="$WORK/build/bin"
	commit="$(awk '/^llama.cpp /{print $2; exit}' "$PACK/manifest.txt")"
	printf '{"commit":"%s","variant":"cuda sm_%s","openmp":"default","patches":"%s","builtAt":"%s","buildSeconds":"%s"}\n' \
		"${commit:-?}" "$arch" "${patches[*]:-}" "$(date -u +%FT%TZ)" "$(( $(date +%s) - b0 ))" > "$BIN/build-info.json"
	log "built in $(( $(date +%s) - b0 )) s for sm_$arch: $(cat "$BIN/build-info.json")"
fi
cp "$BIN/build-info.json" "$RES/" 2>/dev/null

# The checkout the bundle runs in: links to this repository, its own node_modules and llama.cpp tools.
APPROOT="$WORK/root"
rm -rf "$APPROOT" && mkdir -p "$APPROOT/bench/.build"
for e in "$ROOT"/* "$ROOT"/.[!.]*; do
	n="$(basename "$e")"
	case "$n" in node_modules | bench | .bench | .git) continue ;; esac
	ln -s "$e" "$APPROOT/$n"
done
for e in "$ROOT"/bench/*; do ln -s "$e" "$APPROOT/bench/$(basename "$e")"; done
ln -s "$WORK/app/node_modules" "$APPROOT/node_modules"
ln -s "$BIN" "$APPROOT/bench/.build/bin"

TRAINED="$ROOT/test/fixtures/models/rust-kb-tiny.gguf"
RANDOM_MODEL="$WORK/models/rust-kb-tiny-random.gguf"
mkdir -p "$WORK/models"
"$NODE" "$WORK/app/untrainedModel.mjs" --from "$TRAINED" --out "$RANDOM_MODEL" 2>&1 | tee -a "$RES/log.txt" >&2

# Server check: the job bench's server arguments, the log's offload lines.
log "server check (llama-server's offload with the job bench's arguments)"
port=$(( 20000 + RANDOM % 20000 ))
"$BIN/llama-server" -m "$TRAINED" -t "$(nproc)" -tb "$(nproc)" -c $(( 30 * 4096 )) -np 30 --no-kv-unified -fa auto -cram 0 \
	--host 127.0.0.1 --port "$port" -lv 4 > "$RES/server-check.log" 2>&1 &
spid=$!
health=down
for _ in $(seq 1 120); do
	if command -v curl >/dev/null; then curl -sf "http://127.0.0.1:$port/health" >/dev/null && { health=up; break; }
	else python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health')" 2>/dev/null && { health=up; break; }; fi
	kill -0 "$spid" 2>/dev/null || break
	sleep 0.5
done
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
log "server check: $health"
grep -iE 'offload|model buffer size|KV buffer size|using device|fit_params|flash' "$RES/server-check.log" | cut -c1-200 | head -12 | tee -a "$RES/log.txt" >&2

if command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 > "$RES/gpu-samples.csv" 2>&1 &
	SMI_PID=$!
fi

printf '| run | wall s | exit |\n|---|---|---|\n' > "$RES/runs.md"
for run in $RUNS; do
	case "$run" in
		notes-*) corpus=(--corpus "$ROOT/examples/notes") ;;
		slice-*) corpus=(--corpus "$WORK/corpus/rust-research" --first 30) ;;
		*) log "unknown run $run (notes-trained, notes-random, slice-trained, slice-random)"; continue ;;
	esac
	case "$run" in
		*-trained) model=(--trained) ;;
		*-random) model=(--model "$RANDOM_MODEL") ;;
		*) log "unknown run $run"; continue ;;
	esac
	budget=$(left)
	if (( budget < 20 )); then log "skip $run: ${budget} s left before the deadline"; echo "| $run | skipped (deadline) | - |" >> "$RES/runs.md"; continue; fi
	log "run $run (at most $budget s)"
	r0=$(date +%s%N)
	# shellcheck disable=SC2086 # BENCH_ARGS is a list of words
	(cd "$APPROOT" && RUST_KB_BUNDLE_ROOT="$APPROOT" timeout -k 10 "$budget" "$NODE" --require "$APPROOT/cli/threadpool.cjs" "$WORK/app/job.mjs" \
		--job --engine --json --out "$RES/reports" --name "job-gpu-$run" "${model[@]}" "${corpus[@]}" $BENCH_ARGS \
		> "$RES/$run.stdout" 2> "$RES/$run.stderr")
	rc=$?
	secs=$(( ($(date +%s%N) - r0) / 100000000 )); secs="$(( secs / 10 )).$(( secs % 10 ))"
	echo "| $run | $secs | $rc |" >> "$RES/runs.md"
	log "$run: exit $rc in $secs s; $(tail -c 400 "$RES/$run.stderr" | tr '\n' ' ' | tail -c 300)"
done
cp "$APPROOT"/.bench/results/job-gpu-*.json "$RES/reports/" 2>/dev/null

{
	echo "# Job benchmark on the GPU machine ($(date -u +%FT%TZ))"
	echo
	echo '```'; head -20 "$RES/machine.txt"; echo '```'
	echo
	echo "llama.cpp tools: $BIN; $(cat "$RES/build-info.json" 2>/dev/null || echo 'no build-info.json')"
	echo
	cat "$RES/runs.md"
	echo
	for f in "$RES"/reports/*.md; do [[ -f "$f" ]] && { cat "$f"; echo; }; done
} > "$RES/summary.md"
