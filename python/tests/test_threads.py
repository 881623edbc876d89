"""Threads: detection runs in parallel (the GIL is released) while a project trains."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

from logsentinel import SessionVerdict, TenantDetector

from conftest import TRAIN_TIMEOUT, WARMUP, open_tiny


def test_threads_detect_in_parallel_while_training(tmp_path: Path, lines: List[str]) -> None:
    with open_tiny(tmp_path / "s") as det:
        verdicts: List[SessionVerdict] = []
        lock = threading.Lock()

        def on_verdict(v: SessionVerdict) -> None:
            with lock:
                verdicts.append(v)

        det.set_verdict_callback(on_verdict)
        training = det.create_project("training", format="hdfs")
        others = [det.create_project(f"p{i}", format="hdfs") for i in range(3)]
        det.detect_batch(training.api_key, lines[:1500])
        job = det.training_job(training.api_key)
        assert job is not None

        def work(i: int) -> Tuple[int, int]:
            key = others[i % 3].api_key
            n = 0
            chunk = lines[i * 400 : (i + 1) * 400]
            for line in chunk[:100]:
                det.detect(key, line)
                n += 1
            n += det.detect_batch(key, chunk[100:]).total_logs
            # The training project keeps scoring while it trains.
            n += det.detect_batch(training.api_key, chunk[:50]).total_logs
            return i, n

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(work, range(6)))
        assert [n for _, n in results] == [450] * 6
        assert det.wait_for_training(training.api_key, timeout=TRAIN_TIMEOUT) == job.status()
        assert job.status().state == "succeeded"
        assert sum(det.status(p.api_key).log_count for p in others) == 6 * 400
        assert det.status(training.api_key).log_count == 1500 + 6 * 50
        closed = [v for p in others for v in det.close_all_sessions(p.api_key)]
        with lock:
            assert len(verdicts) >= len(closed) > 0


def test_gil_is_released_while_detecting(tmp_path: Path, lines: List[str]) -> None:
    """A pure-Python thread keeps running while another thread is inside detect_batch."""
    with open_tiny(tmp_path / "s") as det:
        key = det.create_project("gil", format="hdfs").api_key
        batch = lines * 3  # 9000 lines: long enough to observe
        window: List[float] = []
        done = threading.Event()

        def detect() -> None:
            start = time.perf_counter()
            det.detect_batch(key, batch)
            window.extend([start, time.perf_counter()])
            done.set()

        ticks: List[float] = []
        t = threading.Thread(target=detect)
        t.start()
        while not done.is_set():
            ticks.append(time.perf_counter())
        t.join()
        start, end = window
        inside = [x for x in ticks if start < x < end]
        # With the GIL held for the whole call this thread could not tick at all meanwhile.
        assert end - start > 0.02
        assert len(inside) > 1000, (len(inside), end - start)


def test_many_threads_on_one_project_keep_order_per_call(tmp_path: Path, lines: List[str]) -> None:
    with open_tiny(tmp_path / "s") as det:
        key = det.create_project("shared", format="hdfs").api_key

        def run(i: int) -> List[int]:
            return [r.log_count for r in det.detect_batch(key, lines[i * 100 : (i + 1) * 100])]

        with ThreadPoolExecutor(max_workers=4) as pool:
            counts = list(pool.map(run, range(8)))
        for c in counts:
            assert c == list(range(c[0], c[0] + 100))
        assert sorted(x for c in counts for x in c) == list(range(1, 801))
        assert det.status(key).log_count == 800


def test_detector_is_shared_with_a_closing_thread(tmp_path: Path, lines: List[str]) -> None:
    det: TenantDetector = open_tiny(tmp_path / "s")
    key = det.create_project("x", format="hdfs").api_key
    errors: List[BaseException] = []

    def loop() -> None:
        try:
            while True:
                det.detect_batch(key, lines[:50])
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            errors.append(e)

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    det.close()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    from logsentinel import DetectorClosed

    assert len(errors) == 3 and all(isinstance(e, DetectorClosed) for e in errors)
