"""attn4j's PyTorch peer: exact attention as matmul + softmax on the CPU, driven over stdin/stdout.

Started as: python3 torch_attention.py DIR B LQ LK H HKV D DV CAUSAL SCALE THREADS
DIR holds q.f32 [B, LQ, H, D], k.f32 and v.f32 [B, LK, HKV, D|DV], float32 little-endian, row-major.
Commands, one per line; every reply is one line:
  time WARM_CALLS WARM_SECONDS MIN_CALLS MIN_SECONDS MAX_CALLS  ->  "ms MIN MEDIAN MAX"
  output                                                         ->  "ok" after writing DIR/out.f32 [B, LQ, H, DV]
  quit
Errors reply "error MESSAGE" and the process exits with status 1.
"""
import sys
import time

import torch


def main():
    d, b, lq, lk, h, hkv, dim, dv, causal, scale, threads = sys.argv[1:12]
    b, lq, lk, h, hkv, dim, dv = map(int, (b, lq, lk, h, hkv, dim, dv))
    causal, scale, threads = causal == "1", float(scale), int(threads)
    torch.set_num_threads(threads)

    def load(name, length, heads, width):
        t = torch.from_file(d + "/" + name, shared=False, size=b * length * heads * width, dtype=torch.float32)
        return t.view(b, length, heads, width).permute(0, 2, 1, 3).contiguous()  # [B, heads, L, width]

    q, k, v = load("q.f32", lq, h, dim), load("k.f32", lk, hkv, dim), load("v.f32", lk, hkv, dv)
    if hkv != h:  # grouped-query attention: each KV head serves h / hkv query heads
        k = k.repeat_interleave(h // hkv, dim=1)
        v = v.repeat_interleave(h // hkv, dim=1)
    mask = None
    if causal:  # bottom-right aligned: query i sees keys j <= i + lk - lq
        i = torch.arange(lq).unsqueeze(1)
        j = torch.arange(lk).unsqueeze(0)
        mask = torch.zeros(lq, lk).masked_fill(j > i + (lk - lq), float("-inf"))

    def attention():
        s = torch.matmul(q, k.transpose(-1, -2)) * scale
        if mask is not None:
            s = s + mask
        return torch.matmul(torch.softmax(s, dim=-1), v)

    out = None
    with torch.inference_mode():
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                return
            if words[0] == "time":
                warm_calls, warm_seconds = int(words[1]), float(words[2])
                min_calls, min_seconds, max_calls = int(words[3]), float(words[4]), int(words[5])
                start, calls = time.perf_counter(), 0
                while True:
                    t0 = time.perf_counter()
                    out = attention()
                    calls += 1
                    last = time.perf_counter() - t0
                    if last > 2 or (calls >= warm_calls and time.perf_counter() - start >= warm_seconds):
                        break
                times, start = [], time.perf_counter()
                while len(times) < min_calls or (time.perf_counter() - start < min_seconds and len(times) < max_calls):
                    t0 = time.perf_counter()
                    out = attention()
                    times.append((time.perf_counter() - t0) * 1e3)
                times.sort()
                n = len(times)
                median = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
                print("ms %r %r %r" % (times[0], median, times[-1]), flush=True)
            elif words[0] == "output":
                if out is None:
                    out = attention()
                out.permute(0, 2, 1, 3).contiguous().numpy().tofile(d + "/out.f32")
                print("ok", flush=True)
            else:
                print("error unknown command " + words[0], flush=True)
                sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line the Java side shows
        print("error %s: %s" % (type(e).__name__, str(e).replace("\n", " ")), flush=True)
        sys.exit(1)
