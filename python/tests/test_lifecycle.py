"""The whole lifecycle of a project through the Python API, on the committed HDFS sample."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, List

import pytest

import logsentinel
from logsentinel import (
    BatchDetection,
    Config,
    Detection,
    JobHandle,
    ModelDims,
    SessionVerdict,
    TenantDetector,
)

from conftest import TINY, TRAIN_TIMEOUT, WARMUP, Trained, open_tiny


def test_whole_lifecycle(tmp_path: Path, lines: List[str]) -> None:
    with open_tiny(tmp_path / "storage") as det:
        assert det.config["warmup_threshold"] == WARMUP
        assert det.config["teacher"] == TINY["teacher"]
        p = det.create_project("My HDFS", format="hdfs")
        assert p.api_key.startswith("sk-")
        assert p.es_index_pattern == f"logs-{p.project_id}"
        assert p.warmup_threshold == WARMUP
        assert det.training_job(p.api_key) is None
        assert det.wait_for_training(p.api_key, timeout=1) is None

        # Warmup: single lines, scored by the teacher.
        first = det.detect(p.api_key, lines[0])
        assert isinstance(first, Detection)
        assert (first.phase, first.model_type, first.log_count) == ("warmup", "teacher", 1)
        assert first.session_id is not None and first.session_id.startswith("blk_")
        assert 0.0 <= first.anomaly_score <= 1.0
        assert isinstance(first.components.sequence, float)
        d = first.to_dict()
        assert d["phase"] == "warmup" and d["model_type"] == "teacher"
        assert set(d["components"]) == {"sequence", "isolation_forest", "rules"}
        json.dumps(d)  # plain JSON types only
        assert first == first and first != det.detect(p.api_key, lines[1])
        for line in lines[2:WARMUP - 1]:
            det.detect(p.api_key, line)
        st = det.status(p.api_key)
        assert (st.phase, st.log_count, st.has_student_model) == ("warmup", WARMUP - 1, False)
        assert 0.99 < st.warmup_progress < 1.0
        assert st.template_count > 5 and st.open_sessions > 0

        # The threshold: training starts in the background; detection never waits.
        batch = det.detect_batch(p.api_key, lines[WARMUP - 1 : 1500])
        assert isinstance(batch, BatchDetection)
        assert len(batch) == batch.total_logs == 1500 - WARMUP + 1
        assert batch.anomalies_detected == len(batch.anomalies)
        assert batch[0].log_count == WARMUP and batch[-1].log_count == 1500
        assert [r.log_count for r in batch] == list(range(WARMUP, 1501))
        job = det.training_job(p.api_key)
        assert isinstance(job, JobHandle)
        assert job.state in ("queued", "running", "succeeded")
        assert 0.0 <= job.progress <= 1.0
        assert job.name.startswith("train-student")
        final = det.wait_for_training(p.api_key, timeout=TRAIN_TIMEOUT)
        assert final is not None and final.state == "succeeded" and final.finished
        assert final.progress == 1.0 and final.error is None
        assert job.done() and job.status() == final
        assert job.wait(timeout=0) == final and job.result() == final

        st = det.status(p.api_key)
        assert (st.phase, st.has_student_model) == ("active", True)
        assert st.training.state == "succeeded" and st.training.students_trained == 1
        assert st.training.last_duration_secs is not None
        assert st.to_dict()["training"]["state"] == "succeeded"

        # Active: the student serves; dicts with sessions work too.
        records = [{"log_line": line} for line in lines[1500:2500]]
        records[0] = {"log_line": lines[1500], "session_id": "my-session"}
        active = det.detect_batch(p.api_key, records)
        assert {r.model_type for r in active} == {"student"}
        assert {r.phase for r in active} == {"active"}
        assert active[0].session_id == "my-session"
        tuples = det.detect_batch(p.api_key, [(line, None) for line in lines[2500:2600]])
        assert tuples.total_logs == 100
        single = det.detect(p.api_key, lines[2600].encode())
        assert single.model_type == "student" and single.log_count == 2601
        for line in lines[2601:]:
            det.detect(p.api_key, line)

        # Session verdicts: close one, then all; every verdict is also queued for polling.
        one = det.close_session(p.api_key, "my-session")
        assert isinstance(one, SessionVerdict) and one.reason == "closed"
        assert det.close_session(p.api_key, "no-such-session") is None
        rest = det.close_all_sessions(p.api_key)
        # Sessions inside their idle timeout were cut by the end of the input; those silent longer
        # than the project's sessions pause had finished, and say so.
        finished = [v for v in rest if v.reason == "expired"]
        assert rest and all(
            v.reason == "end_of_input" or v in finished for v in rest
        )
        assert all(any("finished, not cut" in r for r in v.reasons) for v in finished)
        assert all(v.model_type == "student" for v in rest)
        polled = det.poll_session_verdicts(p.api_key, max=5)
        assert len(polled) == 5
        iterated = list(det.iter_session_verdicts(p.api_key, batch=7))
        queued = len(polled) + len(iterated)
        assert queued >= len(rest) + 1
        assert list(det.iter_session_verdicts(p.api_key)) == []
        assert det.status(p.api_key).open_sessions == 0
        v = rest[0].to_dict()
        assert v["reason"] in ("end_of_input", "expired")
        assert isinstance(v["missing_templates"], list) and "incident_id" in v

        # Admin views.
        health = det.health()
        assert health.status == "healthy" and health.total_projects == 1
        assert health.teacher_loaded
        info = det.teacher_info()
        assert info.trained and info.vocabulary_size > 0 and info.parameters > 0
        assert set(info.thresholds) >= {"sequence_nll", "isolation_forest"}
        history = det.update_history()
        assert history and history[0].success
        assert history[0].trigger in ("first-distillation", "project-finetune", "scheduled", "forced")
        (summary,) = det.list_projects()
        assert (summary.project_id, summary.phase, summary.log_count) == (
            p.project_id,
            "active",
            3000,
        )
        assert det.project_status(p.project_id).log_count == 3000

        # Keys: rotate (old key refused), by id, delete.
        new_key = det.rotate_key(p.api_key)
        with pytest.raises(logsentinel.InvalidApiKey):
            det.status(p.api_key)
        newer = det.rotate_key_by_id(p.project_id)
        with pytest.raises(logsentinel.InvalidApiKey):
            det.status(new_key)
        assert det.status(newer).log_count == 3000
        assert det.reset_sessions(newer) == 0
        det.flush()
        det.delete_project(p.project_id)
        with pytest.raises(logsentinel.InvalidApiKey):
            det.detect(newer, lines[0])
        assert det.list_projects() == []
    assert det.closed


def test_persistence_across_a_new_detector(trained_copy: Trained, lines: List[str]) -> None:
    with open_tiny(trained_copy.storage) as det:
        st = det.status(trained_copy.api_key)
        assert (st.project_id, st.phase, st.has_student_model) == (
            trained_copy.project_id,
            "active",
            True,
        )
        assert st.log_count == trained_copy.log_count
        d = det.detect(trained_copy.api_key, lines[2000])
        assert (d.model_type, d.log_count) == ("student", trained_copy.log_count + 1)
        p2 = det.create_project("second")
    # A third opening sees both projects and the line counted above.
    with open_tiny(trained_copy.storage) as det:
        assert {s.project_name for s in det.list_projects()} == {"hdfs-trained", "second"}
        assert det.status(trained_copy.api_key).log_count == trained_copy.log_count + 1
        assert det.status(p2.api_key).log_count == 0
        assert det.update_history()


def test_fork_project_copies_learned_state(trained_copy: Trained, lines: List[str]) -> None:
    with open_tiny(trained_copy.storage) as det:
        fork = det.fork_project(trained_copy.project_id, "hdfs-staging")
        assert fork.api_key.startswith("sk-") and fork.api_key != trained_copy.api_key
        assert fork.project_id != trained_copy.project_id
        st = det.status(fork.api_key)
        assert (st.project_name, st.phase, st.has_student_model) == ("hdfs-staging", "active", True)
        assert det.detect(fork.api_key, lines[2000]).model_type == "student"
        with pytest.raises(logsentinel.ProjectNotFound):
            det.fork_project("no-such-project", "x")
        with pytest.raises(logsentinel.InvalidInput):
            det.fork_project(trained_copy.project_id, "   ")


def test_config_as_kwargs_dict_or_dataclass(tmp_path: Path) -> None:
    cfg = Config.tiny(max_batch_size=10, storage_dir=tmp_path / "a")
    assert cfg.to_dict()["teacher"] == TINY["teacher"]
    with TenantDetector(config=cfg, warmup_threshold=500) as det:
        c = det.config
        assert (c["max_batch_size"], c["warmup_threshold"]) == (10, 500)
        assert c["student"] == dataclasses.asdict(ModelDims.tiny())
        assert c["storage_dir"] == str(tmp_path / "a") == det.storage_dir
        assert c["anomaly_threshold"] == logsentinel.default_config()["anomaly_threshold"]
        key = det.create_project("x").api_key
        with pytest.raises(logsentinel.InvalidInput, match="max_batch_size"):
            det.detect_batch(key, ["line"] * 11)
    with TenantDetector(tmp_path / "b", tiny_models=True, session_idle_timeout_secs=5.0) as det:
        assert det.config["teacher"] == TINY["teacher"]
        assert det.config["session_idle_timeout_secs"] == 5.0
        assert det.config["warmup_threshold"] == 10_000
    with TenantDetector(str(tmp_path / "c"), 200, {"seed": 7, "warmup_threshold": 900}) as det:
        assert (det.config["seed"], det.config["warmup_threshold"]) == (7, 200)
    assert "closed" in repr(det)


def test_verdict_callback_and_custom_rules(
    det: TenantDetector, lines: List[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    got: List[SessionVerdict] = []
    det.set_verdict_callback(got.append)
    p = det.create_project(
        "rules",
        format="hdfs",
        custom_rules=[{"name": "boom", "pattern": "BOOM", "severity": 1.0}],
    )
    det.detect_batch(p.api_key, lines[:300])
    hit = det.detect(p.api_key, lines[300] + " BOOM", session_id="s-boom")
    assert "custom:boom" in hit.matched_rules
    closed = det.close_all_sessions(p.api_key)
    assert closed and [v.session_id for v in got] == [v.session_id for v in closed]
    assert got == closed

    # A raising callback never reaches the detector (it goes to sys.unraisablehook).
    def bad(_: SessionVerdict) -> None:
        raise RuntimeError("callback failed")

    unraisable: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    det.set_verdict_callback(bad)
    det.detect(p.api_key, lines[301])
    assert det.close_all_sessions(p.api_key)
    assert len(unraisable) == 1 and isinstance(unraisable[0].exc_value, RuntimeError)
    det.set_verdict_callback(None)
    det.detect(p.api_key, lines[302])
    assert det.close_all_sessions(p.api_key)
    with pytest.raises(TypeError):
        det.set_verdict_callback(42)  # type: ignore[arg-type]


def test_record_types_and_bad_records(det: TenantDetector) -> None:
    key = det.create_project("x").api_key
    with pytest.raises(TypeError, match="record 1"):
        det.detect_batch(key, ["ok", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not a single string"):
        det.detect_batch(key, "one line")
    with pytest.raises(logsentinel.InvalidInput, match="log_line"):
        det.detect_batch(key, [{"session_id": "a"}])
    with pytest.raises(logsentinel.InvalidInput, match="unknown key"):
        det.detect_batch(key, [{"log_line": "a", "session": "b"}])
    r = det.detect_batch(key, [b"bytes \xff line", {"log_line": "x", "session_id": None}])
    assert r.total_logs == 2 and "\ufffd" in r[0].template + "".join(r[0].parameters)
    assert r.to_dict()["total_logs"] == 2 and len(r.to_dict()["results"]) == 2


def test_callback_cycle_is_collected(tmp_path: Path) -> None:
    """A callback referring to its detector is a cycle the GC can see and collect (storage released)."""
    import gc

    det = open_tiny(tmp_path / "s")
    det.set_verdict_callback(lambda v: det.health())
    del det
    gc.collect()
    with open_tiny(tmp_path / "s") as again:  # would be StorageError while the first one lived
        assert again.list_projects() == []
