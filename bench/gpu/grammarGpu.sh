#!/usr/bin/env bash
# Free vs grammar-constrained generation through llama-server on a CUDA machine without Node
# (issue 12). Builds llama-server and llama-batched-bench with CUDA from a source tarball of the
# patched llama.cpp (bench/.build/llama.cpp after bench/llamacpp/build.sh applied node-llama-cpp's
# and the project's patches), then measures with curl (python3 as a fallback):
#   - llama-batched-bench at 1, 16 and 30 sequences (decode alone, no sampling);
#   - llama-server, 1/16/30 concurrent /completion requests: free (ignore_eos), and with the
#     extractor schema (bench/gpu/extractor.schema.json) at grammar_candidates 0 (llama.cpp's own
#     mask-on-rejection) and 64 (grammar-candidates.diff), with the server's rejection counters.
# Rates are aggregate generated tok/s by the difference method: (tokens of N-token requests -
# tokens of 1-token requests) / (wall difference), so prompt processing cancels out.
#
# Usage (from the repo root; SRC and MODEL default to what bench/.build/gpu holds):
#   SRC=bench/.build/gpu/llama.cpp-src.tar.gz MODEL=bench/.build/gpu/model.gguf OUT=/tmp/out \
#     TOKENS=64 RUNS=1 NS="1 16 30" bash bench/gpu/grammarGpu.sh
#
# GPU-only patches (bench/llamacpp/patches-gpu/*.diff, e.g. parallel-sampling.diff, candidates for the
# main set until measured here): GPU_PATCHES=off (default: the source as packed), on (apply them before
# the build, measure the patched server only) or both (build as packed, keep that bin folder as
# $WORK/bin-base, apply the patches, rebuild llama-server incrementally, and run the matrix for "base"
# and "patched", config names prefixed base:/patched:). With GPU_PATCHES=both, IDENTITY=1 (default
# there) also runs bench/gpu/samplingIdentity.py: greedy and seeded outputs of base (twice: the second
# run shows run-to-run determinism), patched with LLAMA_SERVER_SAMPLING_THREADS=1 and patched with the
# default pool, at IDENTITY_CLIENTS (default 16,30) on MODEL and IDENTITY_MODELS (space-separated,
# e.g. the trained test/fixtures/models/rust-kb-tiny.gguf). A short matrix (the CUDA build stays in
# $WORK, so a first call can build with NS=1 PREFILTERS=on CANDS=0 IDENTITY=0 and a second measure):
#   GPU_PATCHES=both PREFILTERS=on CANDS=0 NS="1 16 30" bash bench/gpu/grammarGpu.sh
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="${SRC:-$ROOT/bench/.build/gpu/llama.cpp-src.tar.gz}"
MODEL="${MODEL:-$(ls "$ROOT"/bench/.build/gpu/*.gguf | head -1)}"
OUT="${OUT:-/tmp/grammar-gpu}"
TOKENS="${TOKENS:-64}"
RUNS="${RUNS:-1}"
NS="${NS:-1 16 30}"
CANDS="${CANDS:-0 64}"
WORK="${WORK:-/tmp/grammar-gpu-build}"
SCHEMA="$(tr -d '\n' < "$ROOT/bench/gpu/extractor.schema.json")"
PORT=18080
mkdir -p "$OUT" "$WORK"
RES="$OUT/results.tsv"
log() { echo "[$(date -u +%T)] $*" | tee -a "$OUT/log.txt" >&2; }

{
	echo "== tools"; for t in curl python3 cmake ninja gcc nvcc nvidia-smi; do printf '%s: %s\n' "$t" "$(command -v "$t" || echo missing)"; done
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
	nproc; lscpu 2>/dev/null | grep -m1 'Model name'
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt" >&2

GPU_PATCHES="${GPU_PATCHES:-off}"
case "$GPU_PATCHES" in off|on|both) ;; *) echo "GPU_PATCHES must be off, on or both" >&2; exit 1 ;; esac
PATCHED_MARK="$WORK/gpu-patches-applied"
build_tools() { cmake --build "$WORK/build" -j "$(nproc)" --target llama-server llama-batched-bench >> "$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log" >&2; exit 1; }; }
log "build"
if [[ -n "${BIN:-}" ]]; then
	log "using BIN=$BIN (no build)"
	[[ "$GPU_PATCHES" == off ]] || { echo "GPU_PATCHES needs a build (unset BIN)" >&2; exit 1; }
else
	if [[ ! -x "$WORK/build/bin/llama-server" ]]; then
		tar xf "$SRC" -C "$WORK" 2>/dev/null || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$SRC" "$WORK" || exit 1
		gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
		cmake -S "$WORK/llama.cpp" -B "$WORK/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
			-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
			> "$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log" >&2; exit 1; }
		build_tools
	fi
	if [[ "$GPU_PATCHES" == off && -f "$PATCHED_MARK" ]]; then
		echo "$WORK/build has the patches-gpu applied; remove $WORK for GPU_PATCHES=off" >&2; exit 1
	fi
	if [[ "$GPU_PATCHES" == both && ! -x "$WORK/bin-base/llama-server" ]]; then
		[[ -f "$PATCHED_MARK" ]] && { echo "$WORK/build is already patched: remove $WORK for GPU_PATCHES=both" >&2; exit 1; }
		cp -a "$WORK/build/bin" "$WORK/bin-base" # shared libraries included (the run sets LD_LIBRARY_PATH to it)
	fi
	if [[ "$GPU_PATCHES" != off && ! -f "$PATCHED_MARK" ]]; then
		for patch in "$ROOT"/bench/llamacpp/patches-gpu/*.diff; do
			if command -v git >/dev/null; then (cd "$WORK/llama.cpp" && git apply "$patch") || exit 1
			else patch -d "$WORK/llama.cpp" -p1 --forward < "$patch" || exit 1; fi
			log "applied patches-gpu/$(basename "$patch")"
		done
		touch "$PATCHED_MARK"
		build_tools # incremental: common/ and tools/server only
	fi
fi
BIN="${BIN:-$WORK/build/bin}"
log "built"
VARIANTS=("default=$BIN")
[[ "$GPU_PATCHES" == on ]] && VARIANTS=("patched=$BIN")
[[ "$GPU_PATCHES" == both ]] && VARIANTS=("base=$WORK/bin-base" "patched=$WORK/build/bin")

maxn=1; for n in $NS; do (( n > maxn )) && maxn=$n; done
log "llama-batched-bench"
"$BIN/llama-batched-bench" -m "$MODEL" -ngl 99 -fa on -c $(( maxn * (32 + TOKENS + 16) )) -b 2048 -ub 512 -npp 32 -ntg "$TOKENS" \
	-npl "$(echo $NS | tr ' ' ',')" > "$OUT/batched-bench.txt" 2>&1 || tail -20 "$OUT/batched-bench.txt" >&2
grep -E '^\|' "$OUT/batched-bench.txt" >&2

SPID=
start_server() { # start_server LOGNAME [ENV=VALUE...]
	local name=$1; shift
	env LD_LIBRARY_PATH="$SBIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@" "$SBIN/llama-server" -m "$MODEL" -ngl 99 -fa on -np "$maxn" -c $(( maxn * (TOKENS + 384) )) --host 127.0.0.1 --port $PORT -cram 0 > "$OUT/$name.log" 2>&1 &
	SPID=$!
	for _ in $(seq 1 240); do
		if command -v curl >/dev/null; then curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
		else python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/health')" 2>/dev/null && break; fi
		sleep 0.5
	done
	log "server up ($name $*)"
}
stop_server() { [[ -n "$SPID" ]] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null; SPID=; }
trap stop_server EXIT

post() { # post BODYFILE OUTFILE
	if command -v curl >/dev/null; then curl -s -H 'content-type: application/json' --data-binary "@$1" "http://127.0.0.1:$PORT/completion" > "$2"
	else python3 -c "import urllib.request,sys; r=urllib.request.Request('http://127.0.0.1:$PORT/completion', data=open('$1','rb').read(), headers={'content-type':'application/json'}); open('$2','wb').write(urllib.request.urlopen(r).read())"; fi
}

body() { # body N_PREDICT SEED CAND(-1 = free)
	local p='<|im_start|>system\nYou are a careful extractor. Answer with JSON only.<|im_end|>\n<|im_start|>user\nExtract the Rust patterns of these notes as JSON. u1: Use the newtype pattern to give a primitive a meaning. u2: Builders replace constructors with many arguments.<|im_end|>\n<|im_start|>assistant\n'
	local common="\"prompt\":\"$p\",\"n_predict\":$1,\"cache_prompt\":false,\"temperature\":0,\"top_k\":40,\"top_p\":0.95,\"min_p\":0,\"seed\":$2,\"repeat_penalty\":1.0"
	if [[ "$3" == -1 ]]; then echo "{$common,\"ignore_eos\":true}"
	else echo "{$common,\"json_schema\":$SCHEMA,\"grammar_candidates\":$3}"; fi
}

fire() { # fire N N_PREDICT CAND -> prints "wall_ms tokens checked rejected cand_hit full_mask reject_ms mask_ms"
	local n=$1 d="$WORK/req"; rm -rf "$d"; mkdir -p "$d"
	for i in $(seq 1 "$n"); do body "$2" "$i" "$3" > "$d/b$i.json"; done
	local t0 t1; t0=$(date +%s%N)
	for i in $(seq 1 "$n"); do post "$d/b$i.json" "$d/r$i.json" & done
	wait
	t1=$(date +%s%N)
	cat "$d"/r*.json > "$d/all.txt"
	sum() { grep -o "\"$1\":[0-9.e+-]*" "$d/all.txt" | awk -F: '{s+=$2} END {printf "%.3f", s+0}'; }
	echo "$(( (t1 - t0) / 1000000 )) $(sum predicted_n) $(sum grammar_n_checked) $(sum grammar_n_rejected) $(sum grammar_n_cand_hit) $(sum grammar_n_full_mask) $(sum grammar_reject_ms) $(sum grammar_mask_ms)"
}

printf 'config\tseqs\ttok_s\ttokens_per_seq\tchecked\trejected\tcand_hit\tfull_mask\tms_per_rejection\tms_per_mask\n' > "$RES"
for variant in "${VARIANTS[@]}"; do
vname="${variant%%=*}"; SBIN="${variant#*=}"
vp=""; (( ${#VARIANTS[@]} > 1 )) && vp="$vname:"
# PREFILTERS: "off" runs the server with LLAMA_GRAMMAR_NO_PREFILTER=1 (llama.cpp's mask), "on" with the patch's prefilter.
first_pf=$(echo ${PREFILTERS:-off on} | awk '{print $1}')
for pf in ${PREFILTERS:-off on}; do
if [[ $pf == off ]]; then start_server "${vp/:/-}server-prefilter-off" LLAMA_GRAMMAR_NO_PREFILTER=1; else start_server "${vp/:/-}server-prefilter-on"; fi
for n in $NS; do
	for cand in -1 $CANDS; do
		[[ $cand == -1 && $pf != "$first_pf" ]] && continue # free generation does not use the grammar: once per variant
		name=$vp$([[ $cand == -1 ]] && echo free || echo "grammar-cand$cand-prefilter-$pf")
		(fire "$n" 4 "$cand" > /dev/null) # warm-up (a subshell: its wait must not wait for the server)
		for r in $(seq 1 "$RUNS"); do
			read -r ws ts _ < <(fire "$n" 1 "$cand")
			read -r wl tl ch rj hit fm rms mms < <(fire "$n" "$TOKENS" "$cand")
			awk -v c="$name" -v n="$n" -v ws="$ws" -v ts="$ts" -v wl="$wl" -v tl="$tl" -v ch="$ch" -v rj="$rj" -v hit="$hit" -v fm="$fm" -v rms="$rms" -v mms="$mms" \
				'BEGIN { rate = (wl > ws) ? (tl - ts) / ((wl - ws) / 1000) : 0;
				  printf "%s\t%d\t%.1f\t%.1f\t%d\t%d\t%d\t%d\t%s\t%s\n", c, n, rate, tl / n, ch, rj, hit, fm, (rj > 0 ? sprintf("%.2f", rms / rj) : "-"), (fm > 0 ? sprintf("%.2f", mms / fm) : "-") }' >> "$RES"
			tail -1 "$RES" >&2
		done
	done
done
stop_server
done
done
if [[ "$GPU_PATCHES" == both && "${IDENTITY:-1}" == 1 ]]; then
	log "samplingIdentity.py"
	models=(--model "$MODEL"); for m in ${IDENTITY_MODELS:-}; do models+=(--model "$m"); done
	python3 "$ROOT/bench/gpu/samplingIdentity.py" "${models[@]}" --out "$OUT/identity" \
		--config "base=$WORK/bin-base" --config "base-rerun=$WORK/bin-base" \
		--config "serial=$WORK/build/bin:1" --config "parallel=$WORK/build/bin" \
		--clients "${IDENTITY_CLIENTS:-16,30}" --tokens "${IDENTITY_TOKENS:-$TOKENS}" --no-rate --modes "${IDENTITY_MODES:-free,schema,free-seeded,schema-seeded}" \
		--server-args "-ngl 99 -fa on" 2>&1 | tee "$OUT/identity.txt" >&2
fi
log "done"
cat "$RES" >&2
