"""Lines/s of detect and detect_batch from Python, next to the same work in Rust.

    python python/examples/bench.py [--lines N] [--rust target/py/release/examples/binding_bench]

The work is that of ``core/examples/binding_bench.rs`` (see there). With ``--rust``, the Rust binary runs
right after, on the same machine, and a Markdown table compares both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

from logsentinel import TenantDetector

REPO = Path(__file__).resolve().parents[2]
LOG = REPO / "tests" / "fixtures" / "hdfs" / "hdfs_dev_20k.log"
BATCH = 256
REPEATS = 3
Result = Dict[str, Union[str, int, float]]


def rate(n: int, work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return n / (time.perf_counter() - start)


def bench_python(path: Path, n: int) -> Result:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 2000 + n:
        raise SystemExit(f"{path} has {len(lines)} lines, need {2000 + n}")
    with tempfile.TemporaryDirectory() as storage, TenantDetector(
        storage_dir=storage, warmup_threshold=1000, tiny_models=True
    ) as det:
        active = det.create_project("bench-active", format="hdfs")
        for start in range(0, 2000, 500):
            det.detect_batch(active.api_key, lines[start : start + 500])
        det.wait_for_training(active.api_key, timeout=600)

        def singles(key: str, chunk: List[str]) -> Callable[[], None]:
            def run() -> None:
                for line in chunk:
                    det.detect(key, line)

            return run

        def batches(key: str, chunk: List[str]) -> Callable[[], None]:
            def run() -> None:
                for i in range(0, len(chunk), BATCH):
                    det.detect_batch(key, chunk[i : i + BATCH])

            return run

        never = 1_000_000_000  # the whole measurement stays in warmup (teacher scoring)
        warm = lines[:n]
        act = lines[2000 : 2000 + n]
        warmup_detect = warmup_batch = active_detect = active_batch = 0.0

        def fresh(name: str) -> str:
            return det.create_project(name, format="hdfs", warmup_threshold=never).api_key

        for rep in range(REPEATS):  # each cell: the best of REPEATS runs
            a = fresh(f"bench-warmup-single-{rep}")
            warmup_detect = max(warmup_detect, rate(n, singles(a, warm)))
            b = fresh(f"bench-warmup-batch-{rep}")
            warmup_batch = max(warmup_batch, rate(n, batches(b, warm)))
            det.reset_sessions(active.api_key)
            active_detect = max(active_detect, rate(n, singles(active.api_key, act)))
            det.reset_sessions(active.api_key)
            active_batch = max(active_batch, rate(n, batches(active.api_key, act)))
    return {
        "lang": "python",
        "lines": n,
        "warmup_detect": warmup_detect,
        "warmup_batch": warmup_batch,
        "active_detect": active_detect,
        "active_batch": active_batch,
    }


def bench_rust(binary: Path, path: Path, n: int) -> Result:
    out = subprocess.run(
        [str(binary), str(path), str(n)], check=True, capture_output=True, text=True
    ).stdout
    result: Result = json.loads(out.strip().splitlines()[-1])
    return result


def table(py: Result, rust: Optional[Result]) -> str:
    rows = [
        "| phase (model) | Python detect | Python detect_batch | Rust detect | Rust detect_batch |",
        "|---|---:|---:|---:|---:|",
    ]
    for phase, label in (("warmup", "warmup (teacher)"), ("active", "active (student)")):
        cells = [f"{float(py[f'{phase}_detect']):,.0f}", f"{float(py[f'{phase}_batch']):,.0f}"]
        if rust is not None:
            cells += [
                f"{float(rust[f'{phase}_detect']):,.0f}",
                f"{float(rust[f'{phase}_batch']):,.0f}",
            ]
        else:
            cells += ["-", "-"]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lines", type=int, default=4000, help="lines per measurement")
    ap.add_argument("--log", type=Path, default=LOG)
    ap.add_argument("--rust", type=Path, help="the binding_bench example binary")
    ap.add_argument("--json", type=Path, help="also write both results here")
    args = ap.parse_args()
    py = bench_python(args.log, args.lines)
    rust = bench_rust(args.rust, args.log, args.lines) if args.rust else None
    print(
        f"lines/s, {args.lines} lines per cell, best of {REPEATS} (batches of {BATCH}), tiny models:"
    )
    print(table(py, rust))
    if args.json:
        args.json.write_text(json.dumps({"python": py, "rust": rust}, indent=2) + "\n")


if __name__ == "__main__":
    main()
