"""Serving benchmark on the real upcycled base (SmolLM2 MoE, 4 experts, top-2) through `veritune serve` (the
CLI, in its own process, on 127.0.0.1), driven by the official `openai` client; baselines measured in the same run.

(a) Streaming: time to first token and tokens/s with the KV cache vs without, for the `+rag` model (the prompt
    carries k=4 retrieved passages, about 500 tokens: what the served assistants send) and for a bare question.
    Without the cache every token re-reads the whole prompt, so that baseline generates fewer tokens
    (`--nocache-tokens`), which flatters it (its later tokens would cost more).
(b) Concurrent clients, non-streaming: requests/s and tokens/s with dynamic batching vs one request per generate
    call (max_batch 1).
(c) Plain transformers `model.generate` in its own process, greedy, same prompt and token counts: one stream, and
    all the concurrent prompts in one left-padded batch: what the server adds (HTTP, accounting, streaming) or
    saves against a user's own loop.
Writes benchmarks/results/serve.json; its top-level `speedup` is (a) for the `+rag` model: tokens/s with the KV
cache over tokens/s without. Needs runs/smollm2-moe (`veritune base upcycle`, see the README).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, pretty, setup_threads, write_results  # noqa: E402

STREAM_TARGET = 3.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


BASE = ROOT / "runs/smollm2-moe"


def serve_config(folder: Path, base: Path, index: Path, port: int) -> Path:
    common = {"domain": "medical", "model": str(base), "repetition_penalty": 1.0}
    models = [{"id": "moe", **common}, {"id": "moe-nocache", "use_cache": False, **common},
              {"id": "moe-unbatched", "max_batch": 1, **common},
              {"id": "moe+rag", "rag": True, "index": str(index), **common},
              {"id": "moe-nocache+rag", "rag": True, "index": str(index), "use_cache": False, **common}]
    path = folder / "serve.yaml"
    path.write_text(yaml.safe_dump({"host": "127.0.0.1", "port": port, "keys": str(folder / "keys.sqlite"),
                                    "models": models, "mount_apps": False}))
    return path


def start_server(folder: Path, config: Path, port: int) -> tuple[subprocess.Popen, str]:
    exe = str(Path(sys.executable).parent / "veritune")
    key = subprocess.run([exe, "serve", "key", "add", "bench", "--rate", "100000/minute", "--keys",
                          str(folder / "keys.sqlite")], capture_output=True, text=True, check=True).stdout.strip()
    log = open(folder / "server.log", "w")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen([exe, "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "VERITUNE_THREADS": os.environ.get("VERITUNE_THREADS", "1")})
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited: {(folder / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server, key
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("server did not start in 300 s")


QUESTION = "Which tests should be arranged for central chest pressure spreading to the left arm?"


def stream_once(client, model: str, tokens: int) -> dict[str, float]:
    started = time.perf_counter()
    first = None
    usage = None
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": QUESTION}],
                                            max_tokens=tokens, stream=True, stream_options={"include_usage": True},
                                            extra_body={"min_tokens": tokens})
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
        if chunk.usage:
            usage = chunk.usage
    total = time.perf_counter() - started
    return {"ttft_s": first or total, "seconds": total, "prompt_tokens": usage.prompt_tokens,
            "tokens": usage.completion_tokens, "tokens_per_s": usage.completion_tokens / total}


def streaming(client, model: str, tokens: int, repeats: int) -> dict[str, float]:
    stream_once(client, model, 8)  # warm-up
    runs = [stream_once(client, model, tokens) for _ in range(repeats)]
    return {key: round(statistics.median(r[key] for r in runs), 4) for key in runs[0]}


def concurrent(client, model: str, clients: int, per_client: int, tokens: int) -> dict[str, float]:
    def one(i: int) -> int:
        response = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": concurrent_prompt(i)}],
            max_tokens=tokens, extra_body={"min_tokens": tokens})
        return response.usage.completion_tokens

    one(0)  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        produced = list(pool.map(one, range(clients * per_client)))
    seconds = time.perf_counter() - started
    return {"requests": len(produced), "seconds": round(seconds, 3),
            "requests_per_s": round(len(produced) / seconds, 2), "tokens_per_s": round(sum(produced) / seconds, 1)}


def precision() -> str:
    import torch

    from finetune import inference_dtype

    return "bf16" if inference_dtype("auto") == torch.bfloat16 else "fp32"


def concurrent_prompt(i: int) -> str:
    return f"Question {i}: which tests for chest pain?"


def plain_generate(base: Path, tokens: int, clients: int, batch_tokens: int, out: Path) -> None:
    """Child process: transformers' own greedy `generate`, one stream and one padded batch."""
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    setup_threads()
    tokenizer = AutoTokenizer.from_pretrained(base, padding_side="left")
    from finetune import inference_dtype

    # the precision the server runs at (AnswerSettings.bf16 "auto": bf16 on a CPU with AMX), so the baseline is
    # transformers at its best on this machine, not fp32 against bf16
    model = AutoModelForCausalLM.from_pretrained(base, dtype=inference_dtype("auto")).eval()

    def run(questions: list[str], new: int) -> dict[str, float]:
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                               add_generation_prompt=True) for q in questions]
        batch = tokenizer(texts, return_tensors="pt", padding=True)
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(**batch, max_new_tokens=new, min_new_tokens=new, do_sample=False)
        seconds = time.perf_counter() - started
        produced = (output.shape[1] - batch["input_ids"].shape[1]) * len(questions)
        return {"requests": len(questions), "seconds": round(seconds, 3), "tokens_per_s": round(produced / seconds, 2),
                "requests_per_s": round(len(questions) / seconds, 3)}

    run([QUESTION], 4)  # warm-up
    single = run([QUESTION], tokens)
    batched = run([concurrent_prompt(i) for i in range(clients)], batch_tokens)
    out.write_text(json.dumps({"single_stream": single, "one_batch": batched}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per streamed answer")
    parser.add_argument("--nocache-tokens", type=int, default=16, help="new tokens per answer without the KV cache")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=1)
    parser.add_argument("--concurrent-tokens", type=int, default=16)
    parser.add_argument("--base", type=Path, default=BASE)
    parser.add_argument("--plain-generate-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_generate_out:
        plain_generate(args.base, args.tokens, args.clients, args.concurrent_tokens, args.plain_generate_out)
        return 0
    if not (args.base / "config.json").is_file():
        print(f"skipped: {args.base} comes from `veritune base upcycle` (see the README); build it first")
        return 0
    threads = setup_threads()
    results = run_all(args, threads)
    print(pretty(results))
    print(f"wrote {write_results('serve', results)}")
    return 0


def run_all(args: argparse.Namespace, threads: int) -> dict:
    import json

    import openai

    from retrieval import IndexSettings, build_index

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        index = build_index(ROOT / "domains/medical/kb/kb.jsonl", folder / "index", IndexSettings(domain="medical"),
                            allow_raw=True)  # the pack's public, synthetic knowledge base
        subprocess.run([sys.executable, __file__, "--base", str(args.base), "--tokens", str(args.tokens),
                        "--clients", str(args.clients * args.per_client), "--concurrent-tokens",
                        str(args.concurrent_tokens), "--plain-generate-out", str(folder / "plain.json")], check=True)
        plain = json.loads((folder / "plain.json").read_text())
        port = free_port()
        server, key = start_server(folder, serve_config(folder, args.base, index, port), port)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=1800)
        try:
            rag = {"kv_cache": streaming(client, "moe+rag", args.tokens, args.repeats),
                   "no_kv_cache_baseline": streaming(client, "moe-nocache+rag", args.nocache_tokens, args.repeats)}
            bare = {"kv_cache": streaming(client, "moe", args.tokens, args.repeats),
                    "no_kv_cache_baseline": streaming(client, "moe-nocache", args.nocache_tokens, args.repeats)}
            batched = concurrent(client, "moe", args.clients, args.per_client, args.concurrent_tokens)
            unbatched = concurrent(client, "moe-unbatched", args.clients, args.per_client, args.concurrent_tokens)
        finally:
            server.terminate()
            server.wait(timeout=30)
    for case in (rag, bare):
        case["speedup"] = round(case["kv_cache"]["tokens_per_s"] / case["no_kv_cache_baseline"]["tokens_per_s"], 2)
    return {
        "torch_threads": threads, "model": f"{args.base} (SmolLM2-135M-Instruct upcycled: 4 experts, top-2), "
                                           f"{precision()}, CPU (server and plain generate alike)",
        "speedup": rag["speedup"], "target": STREAM_TARGET, "meets_target": rag["speedup"] >= STREAM_TARGET,
        "streaming": {"new_tokens": args.tokens, "new_tokens_without_cache": args.nocache_tokens,
                      "repeats": args.repeats, "rag_prompt": rag, "bare_question": bare},
        "concurrent": {"clients": args.clients, "requests_per_client": args.per_client,
                       "new_tokens": args.concurrent_tokens, "batched": batched, "one_at_a_time_baseline": unbatched,
                       "speedup": round(batched["requests_per_s"] / unbatched["requests_per_s"], 2)},
        "plain_generate": {**plain, "serve_stream_over_plain": round(
            bare["kv_cache"]["tokens_per_s"] / plain["single_stream"]["tokens_per_s"], 2),
            "serve_batched_over_plain_batch": round(batched["tokens_per_s"] / plain["one_batch"]["tokens_per_s"], 2)},
    }


if __name__ == "__main__":
    sys.exit(main())
