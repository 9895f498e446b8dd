"""Model-layer benchmarks, measured side by side in one run (``make bench``).

- the tiny model's grammar-constrained tool call through the runner process (latency);
- the shape-alike 0.5B model: prefill and decode tokens/s, ours (runner) vs raw llama-cpp-python
  in this process, and decode under the tool-call grammar;
- KV prefix reuse: a turn that extends the previous prompt vs the same prompt evaluated cold;
- a saved prefix state loaded after a restart vs a cold prefill;
- embedding throughput of the default embedder (chunks of about 200 words per second).

Results go to stdout as a table and to ``bench-results/models.json``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app import paths  # noqa: E402
from models import synthetic  # noqa: E402
from models.grammar import tool_call_grammar  # noqa: E402
from models.local import LocalChatModel, LocalEmbedder  # noqa: E402
from tests.bench import report  # noqa: E402
from tests.models.conftest import TOOLS  # noqa: E402

WORDS = ("file folder report invoice memory process window note budget travel photo music "
         "meeting draft summary archive backup project letter recipe").split()


def _text(n_words: int, seed: int = 0) -> str:
    return " ".join(WORDS[(i * 7 + seed) % len(WORDS)] for i in range(n_words))


def _median(values: list[float]) -> float:
    return statistics.median(values)


def shape_alike_path() -> Path:
    """The shape-alike 0.5B model, built once into the cache."""
    path = paths.cache_dir() / "bench" / "shape-alike-0.5b.gguf"
    if not path.exists():
        print("building the shape-alike model (about 1 GB) ...", file=sys.stderr)
        synthetic.shape_alike(path)
    return path


def bench_tiny_tool_call(work: Path, results: dict) -> None:
    tiny = synthetic.tiny(work / "tiny.gguf")
    with LocalChatModel(tiny, n_ctx=2048) as model:
        model.tool_call([{"role": "user", "content": "warm up"}], TOOLS)
        times, tokens = [], []
        for i in range(20):
            start = time.perf_counter()
            call = model.tool_call([{"role": "user", "content": f"request {i}"}], TOOLS)
            times.append(time.perf_counter() - start)
            tokens.append(call.generation.n_generated)
    results["tiny_tool_call_ms_p50"] = 1000 * _median(times)
    results["tiny_tool_call_tokens_p50"] = _median(tokens)


def bench_shape_alike(work: Path, results: dict) -> None:
    import llama_cpp

    from models.llama_env import default_threads

    path = shape_alike_path()
    prompt = "<|im_start|>user\n" + _text(380) + "<|im_end|>\n<|im_start|>assistant\n"

    with LocalChatModel(path, n_ctx=4096, temperature=0.0) as model:
        n_prompt = model.count_tokens(prompt)
        prefill, decode, constrained = [], [], []
        for i in range(3):
            variant = prompt.replace("user", f"user{i}", 1)  # a cold prompt each time
            gen = model.generate(variant, max_tokens=64)
            prefill.append(gen.n_evaluated / gen.prefill_seconds)
            decode.append(gen.n_generated / gen.decode_seconds)
        for _ in range(3):
            gen = model.generate(prompt, max_tokens=64, grammar=tool_call_grammar(TOOLS))
            constrained.append(gen.n_generated / gen.decode_seconds)
        # Prefix reuse: the second turn extends the first.
        turn1 = prompt + "ok<|im_end|>\n"
        model.generate(turn1, max_tokens=1)
        turn2 = turn1 + "<|im_start|>user\nand the next one?<|im_end|>\n<|im_start|>assistant\n"
        warm = model.generate(turn2, max_tokens=1)
        cold = model.generate(turn2.replace("user", "User", 1), max_tokens=1)
        # A saved prefix state after a restart.
        model.save_prefix(prompt)
    with LocalChatModel(path, n_ctx=4096, temperature=0.0) as model:
        start = time.perf_counter()
        model.load_prefix(prompt)
        restored = model.generate(prompt + "hi", max_tokens=1)
        restart_ttft = time.perf_counter() - start

    raw = llama_cpp.Llama(str(path), n_ctx=4096, n_threads=default_threads(), verbose=False)
    raw_prefill, raw_decode = [], []
    for i in range(3):
        raw.reset()
        variant = prompt.replace("user", f"user{i}", 1).encode()
        tokens = raw.tokenize(variant, special=True)
        start = time.perf_counter()
        raw.eval(tokens)
        raw_prefill.append(len(tokens) / (time.perf_counter() - start))
        start = time.perf_counter()
        out = raw.create_completion(variant.decode(), max_tokens=64, temperature=0.0)
        elapsed = time.perf_counter() - start
        raw_decode.append(out["usage"]["completion_tokens"] / max(elapsed, 1e-9))
    raw.close()

    results.update(
        shape_prompt_tokens=n_prompt,
        shape_prefill_tok_s=_median(prefill),
        raw_prefill_tok_s=_median(raw_prefill),
        shape_decode_tok_s=_median(decode),
        raw_decode_tok_s=_median(raw_decode),
        shape_constrained_decode_tok_s=_median(constrained),
        reuse_turn2_ttft_ms=1000 * warm.first_token_seconds,
        reuse_turn2_evaluated=warm.n_evaluated,
        cold_turn2_ttft_ms=1000 * cold.first_token_seconds,
        cold_turn2_evaluated=cold.n_evaluated,
        restart_with_saved_prefix_ms=1000 * restart_ttft,
        restart_evaluated=restored.n_evaluated,
    )


def bench_embedder(work: Path, results: dict) -> None:
    from models.convert import ensure_default_embedder

    path = ensure_default_embedder(work)
    chunks = [_text(200, seed=i) for i in range(64)]
    with LocalEmbedder(path) as embedder:
        embedder.embed(chunks[:4])
        start = time.perf_counter()
        embedder.embed(chunks)
        elapsed = time.perf_counter() - start
    results["embed_chunks_per_s"] = len(chunks) / elapsed


def main() -> int:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for bench in (bench_tiny_tool_call, bench_embedder, bench_shape_alike):
            print(f"running {bench.__name__} ...", file=sys.stderr)
            bench(work, results)
    report.save("models", results)
    report.print_numbers(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
