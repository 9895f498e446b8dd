"""Quick-command router latency, and cold start to the window shown.

- The router: ``router.route`` on requests it understands and on ones it passes to the model;
  then a whole quick command through ``Agent.run`` without a model (route, gate, tool,
  recall). In the full run, the same request as a model turn on the shape-alike 0.5B model with
  its static prefix already cached (what the router saves).
- Cold start: ``python main.py --startup-check`` from process creation to the window shown, with
  no model and with the shape-alike model configured (it loads after the window shows); and the
  bundle's executable when ``dist/Pagemind`` is built. In a real X server (Xvfb) when there is one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from app.kernel import router
from app.kernel.events import user_message
from app.kernel.assembly import assemble
from app.memory.store import MemoryStore
from app.safety.confirm import ScriptedConfirmer
from app.safety.policy import Policy
from tests.bench import report
from tests.bench.report import ROOT, shape_alike_path

NAME = "router_and_start"
TITLE = "Quick-command router latency and cold start to the window"
ROUTED = ["list ~/Documents", "find report.pdf", "open firefox", "what's using my memory", "show disk usage",
          "search my documents for the budget", "kill process 4242", "launch calculator"]
NOT_ROUTED = ["Summarise the notes I took yesterday and email them to Ana",
              "Which of my projects did I touch last week, and what is left in each?"]


def router_latency(repeats: int) -> tuple[list[float], list[float]]:
    """Microseconds per ``route`` call on understood requests, and on requests left to the model."""
    def timed(texts: list[str]) -> list[float]:
        samples = []
        for _ in range(repeats):
            for text in texts:
                start = time.perf_counter()
                router.route(text)
                samples.append(1e6 * (time.perf_counter() - start))
        return samples
    return timed(ROUTED), timed(NOT_ROUTED)


def quick_commands(work: Path, repeats: int) -> list[float]:
    """Milliseconds for a whole quick command, request to reply, without a model."""
    for name in ("budget.md", "holiday.txt", "notes.txt"):
        (work / name).write_text(name)
    memory = MemoryStore.open(work / "memory.duckdb")
    kernel = assemble(memory, None, ScriptedConfirmer(default="deny"), policy=Policy(roots=[str(work)], rules=[]),
                      conversation="bench")
    samples = []
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            result = kernel.agent.run(user_message(f"list {work}"))
            samples.append(1000 * (time.perf_counter() - start))
            assert result.stop == "done", result.error
    finally:
        kernel.close(save_state=False)
        memory.close()
    return samples


def model_turn(work: Path, repeats: int) -> list[float]:
    """Milliseconds for the same request as one model tool call, the static prefix already cached."""
    import tools
    from app.kernel.context import static_text
    from app.kernel.prompts import SYSTEM_PROMPT
    from models.local_client import LocalChatModel

    specs = tools.load_all().specs()
    system = static_text(SYSTEM_PROMPT, specs)
    samples = []
    with LocalChatModel(shape_alike_path(), n_ctx=8192, temperature=0.0) as model:
        model.tool_call([{"role": "system", "content": system}], specs, max_tokens=1)  # the cached prefix
        for i in range(repeats):
            messages = [{"role": "system", "content": system}, {"role": "user", "content": f"list {work} ({i})"}]
            start = time.perf_counter()
            model.tool_call(messages, specs, max_tokens=48)
            samples.append(1000 * (time.perf_counter() - start))
    return samples


@contextlib.contextmanager
def display() -> Iterator[tuple[dict[str, str], str]]:
    """An environment that can show windows: the current X display, a fresh Xvfb, or offscreen."""
    if os.environ.get("DISPLAY"):
        yield {**os.environ, "QT_QPA_PLATFORM": "xcb"}, "X11"
    elif shutil.which("Xvfb") and shutil.which("trayer"):
        from tests.x11 import x_server

        with x_server() as env:
            yield env, "Xvfb"
    else:
        yield {**os.environ, "QT_QPA_PLATFORM": "offscreen"}, "offscreen"


def startup(command: list[str], env: dict[str, str], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        done = subprocess.run([*command, "--startup-check"], env=env, capture_output=True, text=True, timeout=120,
                              cwd=ROOT)
        found = re.search(r"window shown after (\d+\.\d+) s", done.stdout)
        if done.returncode != 0 or not found:
            raise RuntimeError(f"{' '.join(command)} --startup-check failed: {done.stderr[-500:]}")
        samples.append(float(found.group(1)))
    return samples


def cold_starts(repeats: int) -> tuple[dict[str, list[float]], str]:
    from app import paths, settings

    found: dict[str, list[float]] = {}
    source = [sys.executable, str(ROOT / "main.py")]
    bundle = ROOT / "dist" / "Pagemind" / "Pagemind"
    model = shape_alike_path()  # found in the user's cache before PAGEMIND_HOME points elsewhere
    with tempfile.TemporaryDirectory() as tmp, display() as (env, kind):
        empty = {**env, "PAGEMIND_HOME": str(Path(tmp) / "empty")}
        found["source, no model"] = startup(source, empty, repeats)
        configured = {**env, "PAGEMIND_HOME": str(Path(tmp) / "configured")}
        with paths.temporary_home(Path(configured["PAGEMIND_HOME"])):
            conf = settings.load()
            conf.chat_model = str(model)
            conf.setup_done = True
            settings.save(conf)
        found["source, 1 GB model configured"] = startup(source, configured, repeats)
        if bundle.is_file():
            found["bundle, no model"] = startup([str(bundle)], {**empty, "PAGEMIND_HOME": str(Path(tmp) / "b")}, repeats)
    return found, kind


def run(quick: bool, out: Path) -> report.Result:
    routed, passed = router_latency(20 if quick else 200)
    with tempfile.TemporaryDirectory() as tmp:
        quick_ms = quick_commands(Path(tmp), 10 if quick else 40)
        model_ms = [] if quick else model_turn(Path(tmp), 3)
    starts, kind = cold_starts(1 if quick else 5)
    rows = [
        ["router, understood request (µs)", report.p50(routed), report.p95(routed)],
        ["router, left to the model (µs)", report.p50(passed), report.p95(passed)],
        ["quick command end to end (ms)", report.p50(quick_ms), report.p95(quick_ms)],
    ]
    if model_ms:
        rows.append(["the same request as a model turn (ms)", report.p50(model_ms), report.p95(model_ms)])
    rows += [[f"cold start, {label} (s, {kind})", report.p50(values), max(values)] for label, values in starts.items()]
    numbers = {"router_routed_us": routed, "router_passed_us": passed, "quick_command_ms": quick_ms,
               "model_turn_ms": model_ms, "cold_start_s": starts, "display": kind}
    with report.figure(out, NAME, TITLE, width=7, height=3.8) as ax:
        labels = list(starts)
        ax.barh(labels, [report.p50(starts[label]) for label in labels], color="#2563eb", edgecolor="#334155")
        for i, label in enumerate(labels):
            ax.plot(starts[label], [i] * len(starts[label]), "k.", markersize=5)
        ax.axvline(1.5, color="#dc2626", linestyle="--", linewidth=1, label="1.5 s target")
        ax.set_xlabel(f"cold start to window shown (s, {kind}); dots: each run")
        ax.invert_yaxis()
        ax.legend(fontsize=8, loc="lower right")
    headline = (f"quick command {report.p50(quick_ms):.0f} ms end to end (router {report.p50(routed):.0f} µs)"
                + (f", {report.p50(model_ms) / report.p50(quick_ms):.0f}x faster than a model turn" if model_ms else "")
                + f"; window shown {report.p50(starts['source, no model']):.2f} s after launch")
    return report.Result(NAME, TITLE, ["", "p50", "p95 / max"], rows, numbers, headline=headline, plot=f"{NAME}.png")
