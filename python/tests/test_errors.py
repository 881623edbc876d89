"""Every exception class: hierarchy, codes, structured fields, and a real way to raise each."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import List, Type

import pytest

import logsentinel
from logsentinel import LogSentinelError, TenantDetector

from conftest import TINY, TRAIN_TIMEOUT, open_tiny

CLASSES = {
    "InvalidApiKey": "INVALID_API_KEY",
    "ProjectNotFound": "PROJECT_NOT_FOUND",
    "InvalidInput": "INVALID_INPUT",
    "InvalidConfig": "INVALID_CONFIG",
    "StorageError": "STORAGE_ERROR",
    "ModelError": "MODEL_ERROR",
    "Cancelled": "CANCELLED",
    "DetectorClosed": "CLOSED",
    "TimeoutError": "TIMEOUT",
    "LeaseHeld": "LEASE_HELD",
}


def test_hierarchy_and_codes() -> None:
    assert issubclass(LogSentinelError, Exception)
    assert LogSentinelError.__module__ == "logsentinel"
    for name, code in CLASSES.items():
        cls: Type[LogSentinelError] = getattr(logsentinel, name)
        assert issubclass(cls, LogSentinelError), name
        assert cls.code == code
        assert cls.__module__ == "logsentinel" and cls.__doc__
    assert issubclass(logsentinel.InvalidInput, ValueError)
    assert issubclass(logsentinel.InvalidConfig, ValueError)
    assert issubclass(logsentinel.TimeoutError, builtins.TimeoutError)
    assert issubclass(logsentinel.DetectorClosed, RuntimeError)
    assert logsentinel.TimeoutError is not builtins.TimeoutError


def test_invalid_api_key(det: TenantDetector) -> None:
    for key in ("", "sk-nope", "sk-" + "0" * 64):
        with pytest.raises(logsentinel.InvalidApiKey) as e:
            det.detect(key, "line")
        assert e.value.code == "INVALID_API_KEY"


def test_project_not_found(det: TenantDetector) -> None:
    with pytest.raises(logsentinel.ProjectNotFound) as e:
        det.project_status("no-such-project")
    assert e.value.project_id == "no-such-project"
    assert "no-such-project" in str(e.value)
    with pytest.raises(logsentinel.ProjectNotFound):
        det.delete_project("no-such-project")
    with pytest.raises(logsentinel.ProjectNotFound):
        det.rotate_key_by_id("no-such-project")


def test_invalid_input(det: TenantDetector) -> None:
    key = det.create_project("x").api_key
    with pytest.raises(logsentinel.InvalidInput) as e:
        det.detect_batch(key, [])
    assert e.value.reason == "batch is empty"
    with pytest.raises(ValueError):
        det.create_project("   ")
    with pytest.raises(logsentinel.InvalidInput, match="warmup_threshold"):
        det.create_project("x", warmup_threshold=5)
    with pytest.raises(logsentinel.InvalidInput, match="unknown variant"):
        det.create_project("x", format="no-such-format")
    with pytest.raises(logsentinel.InvalidInput):
        det.create_project("x", session_pattern="(unclosed")


def test_invalid_config(tmp_path: Path) -> None:
    with pytest.raises(logsentinel.InvalidConfig) as e:
        TenantDetector(storage_dir=tmp_path, warmup_threshold=5)
    assert e.value.name == "WARMUP_THRESHOLD" and "at least 100" in e.value.reason
    with pytest.raises(logsentinel.InvalidConfig, match="no_such_field"):
        TenantDetector(storage_dir=tmp_path, config={"no_such_field": 1})
    with pytest.raises(logsentinel.InvalidConfig, match="dict"):
        TenantDetector(storage_dir=tmp_path, config="tiny")
    with pytest.raises(logsentinel.InvalidConfig):
        TenantDetector(storage_dir=tmp_path, config={**TINY, "student": {"n_layers": 1}})
    with pytest.raises(ValueError):
        TenantDetector(storage_dir=tmp_path, anomaly_threshold=2.0)


def test_storage_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(logsentinel.StorageError) as e:
        TenantDetector(storage_dir=not_a_dir, config=TINY)
    assert e.value.code == "STORAGE_ERROR"


def test_storage_locked_by_another_detector(tmp_path: Path) -> None:
    with open_tiny(tmp_path / "s"):
        with pytest.raises(logsentinel.StorageError):
            open_tiny(tmp_path / "s")


def test_model_error(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    cfg = {
        "vocab_size": 16,
        "d_model": 32,
        "n_layers": 1,
        "n_heads": 2,
        "d_ff": 64,
        "window": 16,
        "word_buckets": 0,
        "rope_theta": 10000.0,
    }
    (model_dir / "teacher.json").write_text(json.dumps(cfg))
    (model_dir / "teacher.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(logsentinel.ModelError) as e:
        TenantDetector(storage_dir=tmp_path / "s", config={**TINY, "model_dir": str(model_dir)})
    assert e.value.code == "MODEL_ERROR"


def test_timeout_and_cancelled(tmp_path: Path, lines: List[str]) -> None:
    # Full-size models on a fresh storage: the first training (teacher and student) takes far longer
    # than the waits below. A teacher update queued behind it on the one job worker is cancelled before
    # it starts, deterministically; then the training itself is cancelled.
    with TenantDetector(storage_dir=tmp_path / "s", warmup_threshold=1000) as det:
        p = det.create_project("busy", format="hdfs")
        det.detect_batch(p.api_key, lines[:1500])
        training = det.training_job(p.api_key)
        assert training is not None and not training.done()
        with pytest.raises(logsentinel.TimeoutError) as te:
            training.wait(timeout=0.05)
        assert isinstance(te.value, builtins.TimeoutError)
        assert te.value.code == "TIMEOUT"
        with pytest.raises(logsentinel.TimeoutError):
            det.wait_for_training(p.api_key, timeout=0.01)
        update = det.force_teacher_update()
        assert update.name.startswith("teacher-update")
        update.cancel()
        training.cancel()
        with pytest.raises(logsentinel.Cancelled) as ce:
            update.result(timeout=TRAIN_TIMEOUT)
        assert ce.value.code == "CANCELLED"
        assert update.status().state == "cancelled"
        with pytest.raises(logsentinel.Cancelled):
            training.result(timeout=TRAIN_TIMEOUT)
        assert det.wait_for_training(p.api_key, timeout=0) == training.status()
        with pytest.raises(ValueError):
            training.wait(timeout=-1)


def test_detector_closed(tmp_path: Path) -> None:
    det = open_tiny(tmp_path / "s")
    key = det.create_project("x").api_key
    det.close()
    det.close()  # idempotent
    assert det.closed
    for call in (
        lambda: det.detect(key, "line"),
        lambda: det.detect_batch(key, ["line"]),
        lambda: det.status(key),
        lambda: det.list_projects(),
        lambda: det.health(),
        lambda: det.flush(),
        lambda: det.config,
        lambda: det.set_verdict_callback(None),
    ):
        with pytest.raises(logsentinel.DetectorClosed) as e:
            call()
        assert isinstance(e.value, RuntimeError) and e.value.code == "CLOSED"
    with open_tiny(tmp_path / "s") as d2:
        k2 = d2.list_projects()[0]
        assert k2.project_name == "x"
    with pytest.raises(logsentinel.DetectorClosed):
        d2.detect(key, "line")
    with pytest.raises(logsentinel.DetectorClosed):
        with d2:
            pass
