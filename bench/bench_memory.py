"""Benchmark: peak memory of one huge provider catalog (Featherless, ~18,000 models in one ~50 MB response).

The old system ran out of memory on Featherless's list. Goal: fetch, parse, validate and stage an 18,000-model
catalog of ~50 MB with the whole run's peak RSS <= 500 MB, printed beside a baseline run without it.

No real dump of the full list exists (modelsync_pipeline/recorded/featherless.json holds one entry), so the
catalog is generated, seeded: the recorded entry's fields plus the ones the live API adds
(`available_on_current_plan`, `is_gated`, `tags`, `description`, ...), ids shaped like Hugging Face repos
(`<org>/<Family>-<size>B-<variant>`), and a description long enough that each entry is `--bytes-per-model`
bytes of JSON. Every entry is on the current plan, so the spec's filter keeps all of them.

Each measured run is a fresh child process (this script with `--child`), so nothing the parent holds (the
generator, the HTTP server, earlier runs) is counted. The child does, in order, what the provider asset does:

    migrate   db.apply_migrations on a scratch database of its own (created and dropped by the parent)
    fetch     ProviderClient(...).fetch_records(), over a real socket: the parent serves the payload from a
              loopback http.server thread and the child's client is pointed at it with
              MODELSYNC_FEATHERLESS_BASE_URL, so the body arrives as a real HTTP response
    build     catalog.build_catalog
    validate  schema.validate_catalog (must return no violations)
    stage     db.stage_provider_catalog (then the staged row count is checked)

and reports VmRSS / VmHWM from /proc/self/status after each phase. "Peak RSS" is VmHWM at the end of the
child: the high-water mark of the child's own address space since exec. (`ru_maxrss` is printed too, but on
Linux it may carry the parent's size over from the vfork/exec that started the child, so it is not used.)

The baseline is the same child, same imports, same steps, on a catalog of `--baseline-models` generated
entries (default 100). MB here is MiB (2**20 bytes), for RSS and payload alike.

    python bench/bench_memory.py                                 # 18,000 models, ~50 MB
    python bench/bench_memory.py --models 36000                  # twice the catalog
    python bench/bench_memory.py --tracemalloc                   # plus where Python allocates, per phase

Uses DATABASE_URL when set, else embedded PostgreSQL (state dir .modelsync/bench); scratch databases are
created and dropped. Figures are printed, never asserted; only correctness (counts, no violations) is.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The child measures these imports too: baseline and huge run pay for exactly the same modules.
from modelsync_pipeline import db  # noqa: E402
from modelsync_pipeline.local import services  # noqa: E402
from modelsync_pipeline.catalog import build_catalog  # noqa: E402
from modelsync_pipeline.providers.http import ProviderClient  # noqa: E402
from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG  # noqa: E402
from modelsync_pipeline.schema import validate_catalog  # noqa: E402

GOAL_MB = 500
MIB = 2**20
SLUG = "featherless"
SEED = 18_000
STATE_DIR = Path(".modelsync") / "bench"
# 18,000 entries x 2,912 bytes = 50.0 MiB, the size of the live response.
DEFAULT_MODELS = 18_000
DEFAULT_BYTES_PER_MODEL = 2_912
DEFAULT_BASELINE_MODELS = 100
TRACE_TOP = 4  # allocation sites listed per phase with --tracemalloc

# -- the generated catalog ------------------------------------------------------------------------

ORGS = (
    "vicgalle", "NousResearch", "Sao10K", "TheDrummer", "cognitivecomputations", "mistralai", "meta-llama",
    "Qwen", "google", "microsoft", "allenai", "teknium", "Undi95", "NeverSleep", "anthracite-org", "Gryphe",
    "KoboldAI", "openchat", "HuggingFaceH4", "deepseek-ai", "01-ai", "upstage", "migtissera", "jondurbin",
    "lemonilia", "SicariusSicariiStuff", "nbeerbower", "princeton-nlp", "unsloth", "abacusai", "FPHam",
    "grimjim", "Nitral-AI", "mlabonne", "failspy", "Steelskull", "ReadyArt", "MarinaraSpaghetti", "Envoid",
    "zelk12", "DavidAU", "Epiculous", "BeaverAI", "EVA-UNIT-01", "crestf411", "Lewdiculous", "maldv",
    "flammenai", "Locutusque", "VAGOsolutions", "DiscoResearch", "occiglot", "yam-peleg", "Weyaxi",
    "OpenPipe", "arcee-ai", "internlm", "THUDM", "bunnycore", "Triangle104", "allura-org", "Delta-Vector",
)
# (family in the id, parameter sizes in billions, model_class template, context length)
FAMILIES = (
    ("Llama-3", (8, 70), "llama3-{size}b-8k", 8_192),
    ("Llama-3.1", (8, 70), "llama31-{size}b-16k", 16_384),
    ("Llama-3.3", (70,), "llama33-{size}b-16k", 16_384),
    ("Mistral", (7,), "mistral-v02-{size}b-lc", 32_768),
    ("Mistral-Nemo", (12,), "mistral-nemo-{size}b-lc", 32_768),
    ("Mistral-Small", (22, 24), "mistral-small-{size}b-lc", 32_768),
    ("Qwen2", (7, 72), "qwen2-{size}b-lc", 32_768),
    ("Qwen2.5", (7, 14, 32, 72), "qwen25-{size}b-lc", 32_768),
    ("Gemma-2", (9, 27), "gemma2-{size}b", 8_192),
    ("Phi-3", (14,), "phi3-{size}b-lc", 16_384),
    ("Yi-1.5", (9, 34), "yi15-{size}b", 4_096),
    ("Solar", (11,), "solar-{size}b", 4_096),
)
PREFIXES = ("", "", "", "Roleplay-", "Hermes-2-", "Dolphin-2.9-", "Stheno-", "Magnum-", "Lumimaid-",
            "Euryale-", "Celeste-", "Rocinante-", "Cydonia-", "Tess-", "Nous-", "Dark-", "Chronos-")
VARIANTS = ("Instruct", "Chat", "RP", "Uncensored", "DPO", "ORPO", "SFT", "abliterated", "Merge",
            "Storywriter", "Coder", "v0.1", "v0.2", "v1", "v1.1", "v2", "v3", "Base", "it", "TIES", "SLERP",
            "DARE", "Lorablated", "128k", "Preview", "Alpha", "Beta", "Reasoning", "Tulu", "KTO")
TAGS = ("text-generation", "conversational", "roleplay", "merge", "mergekit", "transformers", "safetensors",
        "en", "finetuned", "instruct", "chat", "uncensored", "storywriting", "code", "multilingual")
WORDS = (
    "model", "fine-tuned", "merge", "dataset", "roleplay", "instruction", "following", "creative", "writing",
    "context", "tokens", "trained", "epochs", "learning", "rate", "evaluation", "benchmark", "prompt", "format",
    "chatml", "alpaca", "vicuna", "template", "quality", "responses", "characters", "stories", "reasoning",
    "math", "coding", "assistant", "helpful", "uncensored", "alignment", "preference", "optimization", "lora",
    "adapter", "weights", "base", "license", "apache", "llama", "community", "synthetic", "conversations",
    "multi-turn", "long", "short", "improved", "coherence", "vocabulary", "temperature", "sampling", "min-p",
    "repetition", "penalty", "recommended", "settings", "results", "leaderboard", "open", "release", "version",
)
SENTENCE_POOL = 4_000  # distinct sentences the descriptions are drawn from


def _sentences(rng: random.Random) -> list[str]:
    pool = []
    for _ in range(SENTENCE_POOL):
        words = rng.choices(WORDS, k=rng.randint(8, 22))
        pool.append(" ".join(words).capitalize() + ".")
    return pool


def _unique_id(rng: random.Random, taken: set[str]) -> tuple[str, str, int]:
    """A repo-style id not yet in `taken`, with the model_class and context length of its family."""
    while True:
        family, sizes, model_class, context = rng.choice(FAMILIES)
        size = rng.choice(sizes)
        model_id = f"{rng.choice(ORGS)}/{rng.choice(PREFIXES)}{family}-{size}B-{rng.choice(VARIANTS)}"
        if model_id in taken:
            model_id = f"{model_id}-v{rng.randint(2, 99)}"
        if model_id not in taken:
            taken.add(model_id)
            return model_id, model_class.format(size=size), context


def _entry(rng: random.Random, taken: set[str], sentences: list[str], bytes_per_model: int) -> str:
    """One entry as JSON text, its description filled so the text is about `bytes_per_model` bytes."""
    model_id, model_class, context = _unique_id(rng, taken)
    record = {
        "id": model_id,
        "name": model_id,
        "model_class": model_class,
        "context_length": context,
        "max_completion_tokens": 4_096,
        "available_on_current_plan": True,
        "is_gated": rng.random() < 0.08,
        "object": "model",
        "owned_by": model_id.split("/")[0],
        "created": 1_700_000_000 + rng.randrange(40_000_000),
        "tags": rng.sample(TAGS, rng.randint(2, 6)),
        "description": "",
    }
    room = bytes_per_model - len(json.dumps(record))
    parts, length = [], 0
    while length < room:
        sentence = rng.choice(sentences)
        parts.append(sentence)
        length += len(sentence) + 1
    record["description"] = " ".join(parts)[:max(room, 0)].rstrip()
    return json.dumps(record)


def write_payload(path: Path, models: int, bytes_per_model: int, seed: int = SEED) -> int:
    """Write `{"data": [...]}` with `models` entries to `path`, one entry at a time; returns its size in bytes."""
    rng = random.Random(seed)
    sentences = _sentences(rng)
    taken: set[str] = set()
    with path.open("w", encoding="utf-8") as out:
        out.write('{"object": "list", "data": [')
        for index in range(models):
            if index:
                out.write(", ")
            out.write(_entry(rng, taken, sentences, bytes_per_model))
        out.write("]}")
    return path.stat().st_size


# -- the loopback provider ------------------------------------------------------------------------

@contextlib.contextmanager
def serve_payload(path: Path) -> Iterator[str]:
    """Serve `path` as GET /v1/models on 127.0.0.1 (a thread of this process); yields the base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if urlsplit(self.path).path != "/v1/models":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            with path.open("rb") as body:
                shutil.copyfileobj(body, self.wfile, MIB)

        def log_message(self, *args) -> None:  # quiet: the bench prints its own table
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    name = f"modelsync_bench_mem_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(psycopg.conninfo.make_conninfo(server_url, dbname=name))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def database_server() -> Iterator[tuple[str, str]]:
    """(server URL, where it came from): DATABASE_URL as-is, else embedded PostgreSQL like the other benches."""
    if os.environ.get("DATABASE_URL"):
        # services() would also start a Redis this bench never uses; with DATABASE_URL nothing need start.
        yield os.environ["DATABASE_URL"], "DATABASE_URL"
        return
    with services.services(STATE_DIR, env={}) as endpoints:
        yield endpoints.database_url, endpoints.database_source


# -- the measured child ---------------------------------------------------------------------------

def _proc_status_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # kB
    return fields["VmRSS"], fields["VmHWM"]


def _short_path(filename: str) -> str:
    """`json/decoder.py`, `httpx/_models.py`, `modelsync_pipeline/catalog.py`: the last two parts."""
    return "/".join(Path(filename).parts[-2:])


class PhaseLog:
    """RSS, high-water mark and seconds after each phase; with tracemalloc, what the phase allocated."""

    def __init__(self, trace: bool):
        self.trace = trace
        self.phases: list[dict] = []
        self._started = time.perf_counter()
        self._snapshot = tracemalloc.take_snapshot() if trace else None
        self.mark("imports")

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        rss, hwm = _proc_status_mib()
        entry = {"phase": phase, "rss_mb": rss, "hwm_mb": hwm, "seconds": now - self._started}
        if self.trace:
            current, peak = tracemalloc.get_traced_memory()
            snapshot = tracemalloc.take_snapshot()
            growth = [s for s in snapshot.compare_to(self._snapshot, "lineno") if abs(s.size_diff) >= MIB / 10]
            entry["traced_mb"], entry["traced_peak_mb"] = current / MIB, peak / MIB
            entry["kept_by"] = [f"{s.size_diff / MIB:+.1f} MB {_short_path(s.traceback[0].filename)}"
                                f":{s.traceback[0].lineno}" for s in growth[:TRACE_TOP]]
            self._snapshot = snapshot
            tracemalloc.reset_peak()
        self.phases.append(entry)
        self._started = time.perf_counter()  # the snapshot's own cost is not the next phase's


def run_child(base_url: str, database_url: str, expect: int, trace: bool) -> dict:
    """The pipeline steps on one catalog, in this (fresh) process; returns what it measured."""
    spec = PROVIDERS_BY_SLUG[SLUG]
    if trace:
        tracemalloc.start()
    log = PhaseLog(trace)

    db.apply_migrations(database_url)
    log.mark("migrate")

    with ProviderClient(spec, environ={spec.base_url_env: base_url}, require_key=False) as client:
        records = client.fetch_records()
    log.mark("fetch")
    assert len(records) == expect, (len(records), expect)

    frame = build_catalog(spec, records)
    log.mark("build_catalog")
    assert len(frame) == expect, (len(frame), expect)

    violations = validate_catalog(frame)
    log.mark("validate")
    assert violations == [], [v.as_dict() for v in violations[:5]]

    with db.connect(database_url) as conn:
        staged = db.stage_provider_catalog(conn, spec, frame, run_id="bench")
        stored = conn.execute("SELECT count(*) FROM provider_catalogs WHERE provider_slug = %s", (SLUG,)).fetchone()[0]
    log.mark("stage")
    assert staged.changed and staged.row_count == expect and stored == expect, (staged, stored)

    _, hwm = _proc_status_mib()
    return {
        "models": len(frame),
        "peak_mb": hwm,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # kB on Linux
        "seconds": sum(p["seconds"] for p in log.phases if p["phase"] not in ("imports", "migrate")),
        "phases": log.phases,
    }


# -- the parent -----------------------------------------------------------------------------------

@dataclass
class Run:
    label: str
    models: int
    payload_mb: float
    result: dict


def measure(label: str, models: int, bytes_per_model: int, server_url: str, workdir: Path, trace: bool) -> Run:
    """Generate a catalog of `models`, serve it, and run the pipeline on it in a fresh child process."""
    payload = workdir / f"featherless-{models}.json"
    size = write_payload(payload, models, bytes_per_model)
    print(f"{label}: {models:,} models, {size / MIB:.1f} MB payload; running the pipeline in a child ...", flush=True)
    with serve_payload(payload) as base_url, scratch_database(server_url) as database_url:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "--base-url", base_url,
                   "--database-url", database_url, "--expect", str(models)]
        if trace:
            command.append("--tracemalloc")
        child = subprocess.run(command, capture_output=True, text=True)
    payload.unlink()
    if child.returncode != 0:
        raise SystemExit(f"{label}: child exited with {child.returncode}\n{child.stderr}")
    return Run(label, models, size / MIB, json.loads(child.stdout.strip().splitlines()[-1]))


def print_report(baseline: Run, huge: Run, trace: bool) -> None:
    header = f"{'run':<22} {'models':>8} {'payload MB':>11} {'peak RSS MB':>12} {'seconds':>8}"
    print(header)
    print("-" * len(header))
    for run in (baseline, huge):
        print(f"{run.label:<22} {run.models:>8,} {run.payload_mb:>11.1f} {run.result['peak_mb']:>12.1f} "
              f"{run.result['seconds']:>8.2f}")
    print()
    peak = huge.result["peak_mb"]
    print(f"peak RSS with the {huge.models:,} catalog: {peak:.1f} MB (goal <= {GOAL_MB} MB): "
          f"{'met' if peak <= GOAL_MB else 'NOT met'}" + (" (tracemalloc on: RSS inflated)" if trace else ""))
    print(f"ratio to baseline: {peak / baseline.result['peak_mb']:.2f}x "
          f"(+{peak - baseline.result['peak_mb']:.1f} MB for {huge.payload_mb:.1f} MB of payload)")
    print()
    print("RSS after each phase (MB; seconds are the phase's own):")
    header = f"{'phase':<14} {'base RSS':>9} {'base HWM':>9}   {'RSS':>8} {'HWM':>8} {'seconds':>8}"
    print(f"{'':<14} {baseline.label:^19}   {huge.label:^26}")
    print(header)
    print("-" * len(header))
    for base, big in zip(baseline.result["phases"], huge.result["phases"]):
        print(f"{big['phase']:<14} {base['rss_mb']:>9.1f} {base['hwm_mb']:>9.1f}   {big['rss_mb']:>8.1f} "
              f"{big['hwm_mb']:>8.1f} {big['seconds']:>8.2f}")
    print()
    print(f"ru_maxrss of the children (may include the parent's size at exec): baseline "
          f"{baseline.result['ru_maxrss_mb']:.1f} MB, {huge.label} {huge.result['ru_maxrss_mb']:.1f} MB")
    if trace:
        print()
        print(f"tracemalloc, {huge.label} (Python allocations only; tracing inflates RSS and time):")
        for phase in huge.result["phases"]:
            print(f"  {phase['phase']:<14} live {phase['traced_mb']:>7.1f} MB, phase peak "
                  f"{phase['traced_peak_mb']:>7.1f} MB; live change: " + ("; ".join(phase["kept_by"]) or "-"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=DEFAULT_MODELS, help="models in the big catalog")
    parser.add_argument("--bytes-per-model", type=int, default=DEFAULT_BYTES_PER_MODEL,
                        help="JSON bytes per generated entry (2,912 x 18,000 = 50 MiB)")
    parser.add_argument("--baseline-models", type=int, default=DEFAULT_BASELINE_MODELS,
                        help="models in the baseline catalog")
    parser.add_argument("--tracemalloc", action="store_true", help="also report Python allocations per phase")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_child(args.base_url, args.database_url, args.expect, args.tracemalloc)))
        return 0

    with database_server() as (server_url, source), tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        print(f"server: {source}", flush=True)
        workdir = Path(tmp)
        baseline = measure("baseline", args.baseline_models, args.bytes_per_model, server_url, workdir, args.tracemalloc)
        huge = measure(f"{args.models:,} catalog", args.models, args.bytes_per_model, server_url, workdir,
                       args.tracemalloc)
    print()
    print_report(baseline, huge, args.tracemalloc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
