"""fork(): a child never hangs on the parent's detector; it raises a clear error and can open its own."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import logsentinel
from logsentinel import JobHandle, TenantDetector

from conftest import WARMUP, open_tiny

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or "fork" not in mp.get_all_start_methods(),
    reason="needs the fork start method",
)

_DET: Optional[TenantDetector] = None
_KEY = ""
_JOB: Optional[JobHandle] = None
_LINES: List[str] = []


def _child(out: "mp.Queue[Dict[str, Any]]", own_storage: str) -> None:
    result: Dict[str, Any] = {}
    assert _DET is not None
    try:
        _DET.detect(_KEY, _LINES[0])
        result["inherited"] = "worked"
    except logsentinel.LogSentinelError as e:
        result["inherited"] = (type(e).__name__, getattr(e, "code", None), str(e))
    result["closed"] = _DET.closed
    if _JOB is not None:
        try:
            _JOB.wait(timeout=5)
            result["job"] = "worked"
        except logsentinel.LogSentinelError as e:
            result["job"] = getattr(e, "code", None)
    # A detector opened in the child works, training included.
    with open_tiny(Path(own_storage)) as det:
        p = det.create_project("child", format="hdfs")
        det.detect_batch(p.api_key, _LINES[:1500])
        st = det.wait_for_training(p.api_key, timeout=300)
        result["child_training"] = st.state if st else None
        result["child_model"] = det.detect(p.api_key, _LINES[1500]).model_type
    out.put(result)


def _run_child(tmp_path: Path) -> Dict[str, Any]:
    ctx = mp.get_context("fork")
    q: "mp.Queue[Dict[str, Any]]" = ctx.Queue()
    proc = ctx.Process(target=_child, args=(q, str(tmp_path / "child-storage")))
    proc.start()
    proc.join(timeout=300)
    if proc.is_alive():
        proc.kill()
        pytest.fail("the forked child hung")
    assert proc.exitcode == 0
    return q.get(timeout=10)


@pytest.mark.parametrize("training_in_parent", [False, True])
def test_fork_child_gets_a_clear_error_and_can_open_its_own(
    tmp_path: Path, lines: List[str], training_in_parent: bool
) -> None:
    global _DET, _KEY, _JOB, _LINES
    det = open_tiny(tmp_path / "parent")
    try:
        p = det.create_project("parent", format="hdfs")
        _DET, _KEY, _LINES = det, p.api_key, lines
        if training_in_parent:
            # Fork while the parent's job worker trains and its callback machinery is set.
            det.set_verdict_callback(lambda v: None)
            det.detect_batch(p.api_key, lines[:1500])
            _JOB = det.training_job(p.api_key)
        else:
            det.detect_batch(p.api_key, lines[:200])
            _JOB = None
        result = _run_child(tmp_path)
        name, code, message = result["inherited"]
        assert (name, code) == ("LogSentinelError", "WRONG_PROCESS")
        assert "open a new tenantdetector in the child" in message.lower()
        assert result["closed"] is True
        if training_in_parent:
            assert result["job"] == "WRONG_PROCESS"
        assert result["child_training"] == "succeeded"
        assert result["child_model"] == "student"
        # The parent is unaffected.
        assert det.detect(p.api_key, lines[1501]).log_count > 0
        if training_in_parent:
            assert det.wait_for_training(p.api_key, timeout=300) is not None
    finally:
        _DET = None
        _JOB = None
        det.close()
    assert os.getpid() > 0
