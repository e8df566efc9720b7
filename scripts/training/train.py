#!/usr/bin/env python3
"""Trains the project's small test model (issue 21) on the pipeline's own role tasks and writes a GGUF.

    python3 scripts/training/train.py --data .training/data.jsonl.gz --out kb-tiny.gguf \
        --gguf-py /path/to/llama.cpp/gguf-py [--steps 3000] [--seed 1] [--device cuda]

Data: the JSONL of scripts/training/captureData.ts (token IDs of the Llama-2 32k vocabulary through
the ChatML template; rows with "valid": false are not targets). Each example is prompt + answer +
EOS; the loss is on the answer and the EOS only.

Model: Llama architecture as llama.cpp's `llama` arch reads it (RMSNorm, rotary embeddings on
adjacent pairs — llama.cpp's "normal" RoPE, so no weight permutation —, SwiGLU, tied embeddings).
The GGUF is written with llama.cpp's own gguf-py (from the llama.cpp source node-llama-cpp ships):
2-D weights in Q8_0, norms in F32, the tokenizer and chat template copied from the reference GGUF
(../shared/models/llama-2-tiny-random-chatml.gguf), so prompts tokenize exactly as in the pipeline.
"""
import argparse
import gzip
import json
import math
import os
import platform
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BOS, EOS = 1, 2


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--gguf-py", required=True, help="llama.cpp's gguf-py folder")
    p.add_argument("--reference", default=os.path.join(os.path.dirname(__file__), "../../../shared/models/llama-2-tiny-random-chatml.gguf"))
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--context", type=int, default=4096, help="trained context (llama.context_length)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-tokens", type=int, default=65536)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=150)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--max-seconds", type=float, default=0, help="stop early after this much training time (0: no limit)")
    p.add_argument("--log", default="")
    p.add_argument("--check-tokens", type=int, default=48)
    return p.parse_args()


def load_examples(path, context):
    opener = gzip.open if path.endswith(".gz") else open
    meta, examples, skipped = None, [], 0
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if "meta" in row:
                meta = row["meta"]
                continue
            if not row.get("valid", True):
                continue
            ids = row["prompt"] + row["completion"] + [EOS]
            if len(ids) > context:
                skipped += 1
                continue
            examples.append((ids, len(row["prompt"]), row["role"]))
    return meta, examples, skipped


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_tables(head_dim, length, base, device):
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    ang = torch.outer(torch.arange(length, device=device).float(), inv)
    return ang.cos(), ang.sin()


def apply_rope(x, cos, sin):
    # llama.cpp's LLAMA_ROPE_TYPE_NORM: rotate adjacent pairs (x[2i], x[2i+1]).
    x0, x1 = x[..., 0::2].float(), x[..., 1::2].float()
    c, s = cos[: x.shape[-2]], sin[: x.shape[-2]]
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)
    return out.type_as(x)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = a.heads, a.kv_heads, a.dim // a.heads
        self.attn_norm = RMSNorm(a.dim)
        self.wq = nn.Linear(a.dim, a.heads * self.head_dim, bias=False)
        self.wk = nn.Linear(a.dim, a.kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(a.dim, a.kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(a.heads * self.head_dim, a.dim, bias=False)
        self.ffn_norm = RMSNorm(a.dim)
        self.w1 = nn.Linear(a.dim, a.ffn, bias=False)
        self.w3 = nn.Linear(a.dim, a.ffn, bias=False)
        self.w2 = nn.Linear(a.ffn, a.dim, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.wk(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.heads // self.kv_heads
        if rep > 1:
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if hasattr(F, "scaled_dot_product_attention"):
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # torch < 2.0 (the CPU route's Debian torch)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
            att = att.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            o = att.softmax(-1) @ v
        x = x + self.wo(o.transpose(1, 2).reshape(b, t, -1))
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Model(nn.Module):
    def __init__(self, a, vocab):
        super().__init__()
        self.a = a
        self.embed = nn.Embedding(vocab, a.dim)
        self.blocks = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim)
        nn.init.normal_(self.embed.weight, std=0.02)
        for blk in self.blocks:
            for lin in (blk.wq, blk.wk, blk.wv, blk.w1, blk.w3):
                nn.init.normal_(lin.weight, std=0.02)
            for lin in (blk.wo, blk.w2):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * a.layers))

    def forward(self, ids, cos, sin):
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin)
        return self.norm(x) @ self.embed.weight.t()  # tied output


def batches(examples, batch_tokens, rand):
    """Length-sorted buckets: each batch holds examples of similar length, padded to its longest."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i][0]), rand.random()))
    out, cur, longest = [], [], 0
    for i in order:
        n = len(examples[i][0])
        if cur and max(longest, n) * (len(cur) + 1) > batch_tokens:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        out.append(cur)
    return out


def tensors(examples, idx, device):
    t = max(len(examples[i][0]) for i in idx)
    ids = torch.zeros(len(idx), t, dtype=torch.long)
    tgt = torch.full((len(idx), t), -100, dtype=torch.long)
    for row, i in enumerate(idx):
        seq, plen, _ = examples[i]
        ids[row, : len(seq)] = torch.tensor(seq)
        # position p predicts token p+1; targets are the answer tokens and the EOS
        tgt[row, plen - 1 : len(seq) - 1] = torch.tensor(seq[plen:])
    return ids.to(device), tgt.to(device)


def write_gguf(model, a, vocab, path, gguf_py, reference, meta):
    sys.path.insert(0, gguf_py)
    import gguf  # llama.cpp's gguf-py

    ref = gguf.GGUFReader(reference)
    field = lambda name: ref.fields[name].contents()
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("rust-kb-tiny (trained on the pipeline's role tasks; a test model, not a Rust expert)")
    w.add_context_length(a.context)
    w.add_embedding_length(a.dim)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(a.ffn)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_rope_dimension_count(a.dim // a.heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_tokenizer_model(field("tokenizer.ggml.model"))
    w.add_token_list(field("tokenizer.ggml.tokens"))
    w.add_token_scores(field("tokenizer.ggml.scores"))
    w.add_token_types(field("tokenizer.ggml.token_type"))
    w.add_bos_token_id(field("tokenizer.ggml.bos_token_id"))
    w.add_eos_token_id(field("tokenizer.ggml.eos_token_id"))
    w.add_unk_token_id(field("tokenizer.ggml.unknown_token_id"))
    w.add_chat_template(field("tokenizer.chat_template"))
    for k, v in meta.items():
        w.add_string(f"training.{k}", v)
    sd = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}

    def q8(name, arr):
        w.add_tensor(name, gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0), raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    q8("token_embd.weight", sd["embed.weight"])
    for i in range(a.layers):
        p = f"blocks.{i}."
        w.add_tensor(f"blk.{i}.attn_norm.weight", sd[p + "attn_norm.weight"])
        q8(f"blk.{i}.attn_q.weight", sd[p + "wq.weight"])
        q8(f"blk.{i}.attn_k.weight", sd[p + "wk.weight"])
        q8(f"blk.{i}.attn_v.weight", sd[p + "wv.weight"])
        q8(f"blk.{i}.attn_output.weight", sd[p + "wo.weight"])
        w.add_tensor(f"blk.{i}.ffn_norm.weight", sd[p + "ffn_norm.weight"])
        q8(f"blk.{i}.ffn_gate.weight", sd[p + "w1.weight"])
        q8(f"blk.{i}.ffn_up.weight", sd[p + "w3.weight"])
        q8(f"blk.{i}.ffn_down.weight", sd[p + "w2.weight"])
    w.add_tensor("output_norm.weight", sd["norm.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    a = parse_args()
    log_file = open(a.log, "w") if a.log else None

    def log(msg):
        print(msg, flush=True)
        if log_file:
            log_file.write(msg + "\n")
            log_file.flush()

    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    data_meta, examples, skipped = load_examples(a.data, a.context)
    vocab = 32000
    roles = {}
    for _, _, r in examples:
        roles[r] = roles.get(r, 0) + 1
    log(f"examples {len(examples)} (skipped {skipped} longer than {a.context}); by role {roles}")
    dev = torch.device(a.device)
    model = Model(a, vocab).to(dev)
    params = sum(p.numel() for p in model.parameters())
    log(f"model: {params / 1e6:.2f}M parameters (dim {a.dim}, layers {a.layers}, heads {a.heads}/{a.kv_heads}, ffn {a.ffn}); device {dev}")
    cos, sin = rope_tables(a.dim // a.heads, a.context, 10000.0, dev)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.95))
    lr_at = lambda s: a.lr * min(1.0, (s + 1) / a.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / a.steps))))
    rand = random.Random(a.seed)
    use_bf16 = dev.type == "cuda"
    step, epoch, t0 = 0, 0, time.time()
    loss = torch.tensor(float("nan"))  # --steps 0 writes the untrained (random) model of the same shape
    while step < a.steps:
        plan = batches(examples, a.batch_tokens, rand)
        rand.shuffle(plan)
        epoch += 1
        for idx in plan:
            if step >= a.steps or (a.max_seconds and time.time() - t0 > a.max_seconds):
                break
            ids, tgt = tensors(examples, idx, dev)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(ids, cos, sin)
            loss = F.cross_entropy(logits.float().view(-1, vocab), tgt.view(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if step % 50 == 0 or step == a.steps - 1:
                log(f"step {step} epoch {epoch} loss {loss.item():.4f} lr {lr_at(step):.2e} {time.time() - t0:.0f}s")
            step += 1
        if a.max_seconds and time.time() - t0 > a.max_seconds:
            log(f"stopped at the time limit after {step} steps")
            break
    model.eval()
    meta = {
        "command": " ".join(sys.argv),
        "seed": str(a.seed),
        "steps": str(step),
        "final_loss": f"{loss.item():.4f}",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else platform.processor() or "cpu",
        "data_seed": str((data_meta or {}).get("seed", "")),
        "data_runs": str((data_meta or {}).get("runs", "")),
        "data_examples": str(len(examples)),
        "holdout": ",".join((data_meta or {}).get("holdout", [])),
    }
    write_gguf(model, a, vocab, a.out, a.gguf_py, a.reference, meta)
    log(f"wrote {a.out} ({os.path.getsize(a.out)} bytes) after {step} steps, {time.time() - t0:.0f}s")
    if a.check_tokens > 0:
        write_check(a, vocab, examples, dev, cos, sin, log)


def write_check(a, vocab, examples, dev, cos, sin, log):
    """Greedy continuations computed from the GGUF's own (Q8_0) weights read back: a test compares them
    with llama.cpp's greedy output on the same prompts, which proves the file means what was trained."""
    import gguf

    reader = gguf.GGUFReader(a.out)
    names = {"token_embd.weight": "embed.weight", "output_norm.weight": "norm.weight"}
    for i in range(a.layers):
        for g, t in (("attn_norm", "attn_norm"), ("attn_q", "wq"), ("attn_k", "wk"), ("attn_v", "wv"), ("attn_output", "wo"),
                     ("ffn_norm", "ffn_norm"), ("ffn_gate", "w1"), ("ffn_up", "w3"), ("ffn_down", "w2")):
            names[f"blk.{i}.{g}.weight"] = f"blocks.{i}.{t}.weight"
    model = Model(a, vocab).to(dev)
    sd = model.state_dict()
    for t in reader.tensors:
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        sd[names[t.name]] = torch.tensor(np.array(arr), dtype=torch.float32).reshape(sd[names[t.name]].shape)
    model.load_state_dict(sd)
    model.eval()
    picked, seen = [], set()
    for ids, plen, role in examples:
        if role not in seen and plen <= 2048:
            seen.add(role)
            picked.append((role, ids[:plen]))
    checks = []
    with torch.no_grad():
        for role, prompt in picked:
            seq = list(prompt)
            for _ in range(a.check_tokens):
                logits = model(torch.tensor([seq], device=dev), cos, sin)[0, -1]
                nxt = int(logits.argmax())
                seq.append(nxt)
                if nxt == EOS:
                    break
            checks.append({"role": role, "prompt": prompt, "greedy": seq[len(prompt):]})
    path = os.path.splitext(a.out)[0] + ".check.json"
    with open(path, "w") as f:
        json.dump({"note": "greedy continuations from the GGUF's dequantized weights (scripts/training/train.py)", "checks": checks}, f)
    log(f"wrote {path}: {len(checks)} greedy checks of up to {a.check_tokens} tokens")


if __name__ == "__main__":
    main()
