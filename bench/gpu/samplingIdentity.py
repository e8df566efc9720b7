#!/usr/bin/env python3
"""Same output with and without parallel sampling (bench/llamacpp/patches-gpu/parallel-sampling.diff).

Starts llama-server once per configuration (a build folder and a LLAMA_SERVER_SAMPLING_THREADS value),
sends N distinct prompts at once (so a token given to the wrong slot shows; by default as one
/completion request of N prompts, so that all slots start together and the batches are the same run
to run, --submit concurrent for N separate requests), free and under the extractor JSON schema
(bench/gpu/extractor.schema.json), greedy (temperature 0) and, as a stricter check, seeded sampling
(temperature 0.8, top-k 40, seed 1000), and compares every prompt's tokens and text with the first
configuration's (a request that fails counts as the same output when the reference failed alike). It also
prints a rough aggregate rate per configuration: (tokens of N-token requests - tokens of 1-token
requests) / (wall difference), the difference method of bench/gpu/grammarGpu.sh.

python3 standard library only (the GPU host has no Node). Exit status 1 when any output differs.

  python3 bench/gpu/samplingIdentity.py --model M.gguf \\
      --config base=/tmp/psample/base-bin --config serial=/tmp/psample/patched-bin:1 \\
      --config parallel=/tmp/psample/patched-bin:8 [--clients 8,30] [--tokens 48] \\
      [--modes free,schema,free-seeded,schema-seeded] [--repeat 1] [--server-args "-ngl 99 -fa on"]

A config is LABEL=BIN_DIR[:THREADS]; THREADS sets LLAMA_SERVER_SAMPLING_THREADS (left unset without
it; an unpatched server ignores it). The build's shared libraries are taken from BIN_DIR
(LD_LIBRARY_PATH), so a copied build folder runs its own libraries.
--repeat 2 runs each configuration twice: the second run of the first configuration shows whether
the server is deterministic run to run at all (batch composition changes between runs).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NOTES = [
    "Use the newtype pattern to give a primitive a meaning.",
    "Builders replace constructors with many arguments.",
    "Borrow slices instead of owned vectors in parameters.",
    "Return Result and let the caller decide with the question mark operator.",
    "Implement From to convert between error types.",
    "Prefer iterators over index loops.",
    "Use Arc<Mutex<T>> to share state between threads.",
    "Mark functions that can violate memory safety unsafe.",
    "Derive Debug on public types.",
    "Use Cow when a function only sometimes allocates.",
    "Spawn blocking work off the async runtime.",
    "Seal traits that callers must not implement.",
    "Use PhantomData to tie a type parameter to a struct.",
    "Drop guards release resources on every path.",
    "Write doc tests for public functions.",
    "Avoid clone to satisfy the borrow checker.",
    "Use enums for states instead of boolean flags.",
    "Closures capture by reference unless moved.",
    "Benchmark before optimising allocation.",
    "Macros by example match token trees.",
    "Use channels to pass ownership between threads.",
    "Keep unsafe blocks small and documented.",
    "Generic functions are monomorphised per type.",
    "Use impl Trait in argument position for simple bounds.",
    "RAII ties a resource to a value's lifetime.",
    "Test private functions from a tests module in the same file.",
    "Use Option instead of sentinel values.",
    "Iterator adapters are lazy until consumed.",
    "Pin futures that borrow from themselves.",
    "Deref should only be implemented for smart pointers.",
    "Prefer &str over &String in parameters.",
    "Use thiserror for library errors.",
]


def prompt(i):
    a, b = NOTES[i % len(NOTES)], NOTES[(i * 7 + 3) % len(NOTES)]
    return ("<|im_start|>system\nYou are a careful extractor. Answer with JSON only.<|im_end|>\n"
            "<|im_start|>user\nExtract the Rust patterns of these notes as JSON. "
            f"u1: {a} u2: {b}<|im_end|>\n<|im_start|>assistant\n")


def body(i, mode, n_predict, schema, n=None):
    """one request; with n, one request of n prompts (prompt(0) .. prompt(n - 1))"""
    b = {"prompt": prompt(i) if n is None else [prompt(k) for k in range(n)], "n_predict": n_predict, "cache_prompt": False, "return_tokens": True,
         "repeat_penalty": 1.0, "min_p": 0.0, "top_p": 1.0}
    if mode.endswith("-seeded"):
        b.update({"temperature": 0.8, "top_k": 40, "seed": 1000 + i})
    else:
        b.update({"temperature": 0, "top_k": 40, "seed": i})
    if mode.startswith("schema"):
        b["json_schema"] = schema
    else:
        b["ignore_eos"] = True
    return b


def post(port, b):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=json.dumps(b).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=900) as r:
        return json.loads(r.read())


def fire(port, n, mode, n_predict, schema, submit):
    """n prompts, as n concurrent requests or one request of n prompts (submit = "batched"), returns
    (wall seconds, [response or {'error': ...}] in prompt order)."""
    if submit == "batched":
        t0 = time.monotonic()
        try:
            res = post(port, body(0, mode, n_predict, schema, n))
            res = sorted(res, key=lambda r: r.get("index", 0)) if isinstance(res, list) else [res]
        except Exception as e:  # noqa: BLE001 - reported as a mismatch
            res = [{"error": repr(e)}] * n
        return time.monotonic() - t0, res
    out = [None] * n

    def one(i):
        try:
            out[i] = post(port, body(i, mode, n_predict, schema))
        except Exception as e:  # noqa: BLE001 - reported as a mismatch
            out[i] = {"error": repr(e)}

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, bin_dir, threads, model, n_slots, ctx_per_slot, extra, log_path):
        self.port = free_port()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = bin_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        env.pop("LLAMA_SERVER_SAMPLING_THREADS", None)
        if threads is not None:
            env["LLAMA_SERVER_SAMPLING_THREADS"] = str(threads)
        cmd = [os.path.join(bin_dir, "llama-server"), "-m", model, "-np", str(n_slots),
               "-c", str(n_slots * ctx_per_slot), "--host", "127.0.0.1", "--port", str(self.port),
               "-cram", "0"] + extra
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited ({self.proc.returncode}), see {log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception:  # noqa: BLE001 - not up yet
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama-server did not come up, see {log_path}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def key(r):
    if "error" in r:
        return ("error", r["error"])
    return (r.get("tokens"), r.get("content"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, action="append", help="repeatable")
    ap.add_argument("--config", required=True, action="append", help="LABEL=BIN_DIR[:THREADS], repeatable")
    ap.add_argument("--clients", default="8,30")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--modes", default="free,schema,free-seeded,schema-seeded")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--submit", choices=["batched", "concurrent"], default="batched",
                    help="batched (default): one request of N prompts, so all slots start in the same step and the "
                         "batches are the same run to run; concurrent: N requests at once, as clients send them "
                         "(batch composition then varies with arrival, and with it the logits of some models)")
    ap.add_argument("--no-rate", action="store_true", help="skip the 1-token runs of the rate estimate")
    ap.add_argument("--server-args", default="", help="extra llama-server arguments, e.g. '-ngl 99 -fa on'")
    ap.add_argument("--out", default="/tmp/sampling-identity")
    a = ap.parse_args()

    with open(os.path.join(ROOT, "bench", "gpu", "extractor.schema.json")) as f:
        schema = json.load(f)
    clients = [int(x) for x in a.clients.split(",")]
    modes = a.modes.split(",")
    configs = []
    for c in a.config:
        label, rest = c.split("=", 1)
        bin_dir, _, threads = rest.partition(":")
        configs.append((label, os.path.abspath(bin_dir), int(threads) if threads else None))
    os.makedirs(a.out, exist_ok=True)

    ok = True
    rows = []
    print("model\tconfig\tclients\tmode\tidentical\ttok_s\ttokens", flush=True)
    for model in a.model:
        mname = os.path.basename(model)
        ref = {}  # (clients, mode) -> responses of the first config's first run
        for label, bin_dir, threads in configs:
            for rep in range(a.repeat):
                tag = label if a.repeat == 1 else f"{label}#{rep + 1}"
                srv = Server(bin_dir, threads, model, max(clients), a.tokens + 256,
                             a.server_args.split(), os.path.join(a.out, f"{mname}.{tag}.log"))
                try:
                    for n in clients:
                        for mode in modes:
                            fire(srv.port, n, mode, 4, schema, a.submit)  # warm-up
                            w1, r1 = (0.0, []) if a.no_rate else fire(srv.port, n, mode, 1, schema, a.submit)
                            wn, rn = fire(srv.port, n, mode, a.tokens, schema, a.submit)
                            tn = sum(r.get("tokens_predicted", 0) for r in rn)
                            t1 = sum(r.get("tokens_predicted", 0) for r in r1)
                            rate = (tn - t1) / (wn - w1) if wn > w1 and not a.no_rate else tn / wn
                            k = (n, mode)
                            if k not in ref:
                                ref[k] = rn
                                same = "ref"
                            else:
                                diff = [i for i in range(n) if key(rn[i]) != key(ref[k][i])]
                                same = f"{n - len(diff)}/{n}"
                                if diff:
                                    ok = False
                                    i = diff[0]
                                    print(f"# DIFF {mname} {tag} n={n} {mode} request {i}:\n#   ref {json.dumps(ref[k][i].get('content', ref[k][i]))[:300]}\n"
                                          f"#   got {json.dumps(rn[i].get('content', rn[i]))[:300]}", flush=True)
                            errors = [r["error"] for r in rn if "error" in r]
                            if errors:  # an error the reference also got counts as the same output
                                print(f"# {len(errors)} requests failed ({mname} {tag} n={n} {mode}): {errors[0][:200]}", flush=True)
                            row = f"{mname}\t{tag}\t{n}\t{mode}\t{same}\t{rate:.1f}\t{tn}"
                            rows.append(row)
                            print(row, flush=True)
                            with open(os.path.join(a.out, f"{mname}.{tag}.n{n}.{mode}.json"), "w") as f:
                                json.dump([{"content": r.get("content"), "tokens": r.get("tokens"),
                                            "stop_type": r.get("stop_type"), "error": r.get("error")} for r in rn], f)
                finally:
                    srv.stop()
    with open(os.path.join(a.out, "results.tsv"), "w") as f:
        f.write("model\tconfig\tclients\tmode\tidentical\ttok_s\ttokens\n" + "\n".join(rows) + "\n")
    print("IDENTICAL" if ok else "DIFFERENT (see # DIFF lines)", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
