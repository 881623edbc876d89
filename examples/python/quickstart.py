"""Quick start (Python): the README's example, run by scripts/test-python.sh.

Streams the first 3,000 lines of the committed HDFS sample through one project: warmup on the shared
teacher, a student trained in the background at 1,000 lines, then the student serving. Tiny models keep
it to seconds; drop ``tiny_models=True`` for the real sizes.

    python examples/python/quickstart.py [LOG_FILE]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import List

from logsentinel import SessionVerdict, TenantDetector

LOG = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "hdfs" / "hdfs_dev_20k.log"


def main(path: Path = LOG) -> int:
    with path.open(encoding="utf-8", errors="replace") as f:
        lines = [line.rstrip("\n") for _, line in zip(range(3000), f)]
    anomalous_sessions: List[SessionVerdict] = []

    def on_session(v: SessionVerdict) -> None:  # called as each session closes
        if v.is_anomaly:
            anomalous_sessions.append(v)

    with tempfile.TemporaryDirectory() as storage, TenantDetector(
        storage_dir=storage, warmup_threshold=1000, tiny_models=True
    ) as det:
        p = det.create_project("My HDFS", format="hdfs")  # p.api_key is shown only here
        det.set_verdict_callback(on_session)

        flagged = 0
        for line in lines[:1500]:  # one call per line; the session is the HDFS block id
            d = det.detect(p.api_key, line)
            if d.is_anomaly:
                flagged += 1
        print(f"warmup: {flagged} of 1500 lines flagged by the teacher")

        job = det.training_job(p.api_key)  # started at the threshold, in the background
        assert job is not None
        status = job.wait(timeout=300)
        print(f"training {status.state} in the background; phase now {det.status(p.api_key).phase}")

        batch = det.detect_batch(p.api_key, lines[1500:])  # faster per line
        print(f"student: {batch.anomalies_detected} of {batch.total_logs} lines flagged")
        for d in batch.anomalies[:3]:
            print(f"  {d.anomaly_score:.2f} {d.template} | {'; '.join(d.reasons)}")

        det.close_all_sessions(p.api_key)  # end of input: every open session gets a verdict
        polled = list(det.iter_session_verdicts(p.api_key))  # or poll_session_verdicts(key, max)
        print(
            f"{len(polled)} session verdicts, {len(anomalous_sessions)} anomalous "
            "(seen by the callback)"
        )
        for v in anomalous_sessions[:3]:
            print(f"  {v.session_id} {v.anomaly_score:.2f} {'; '.join(v.reasons)}")
        ok = status.state == "succeeded" and batch.results[0].model_type == "student"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else LOG))
