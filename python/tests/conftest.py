"""Shared fixtures: the committed HDFS sample and a storage holding one trained project."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from logsentinel import TenantDetector

REPO = Path(__file__).resolve().parents[2]
HDFS_LOG = REPO / "tests" / "fixtures" / "hdfs" / "hdfs_dev_20k.log"
WARMUP = 1000
#: Tiny models (as Rust's `Config::tiny_models()`): tests train real models in seconds.
TINY: Dict[str, Any] = {
    "teacher": {"n_layers": 1, "d_model": 32, "n_heads": 2, "d_ff": 64},
    "student": {"n_layers": 1, "d_model": 32, "n_heads": 2, "d_ff": 64},
    "teacher_epochs": 2,
}
#: Generous bound for a tiny training on a slow, shared CI machine.
TRAIN_TIMEOUT = 600.0


def read_lines(n: int) -> List[str]:
    out: List[str] = []
    with HDFS_LOG.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            out.append(line.rstrip("\n"))
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="session")
def lines() -> List[str]:
    """The first 3000 lines of the committed HDFS sample."""
    return read_lines(3000)


def open_tiny(storage: Path, **kw: Any) -> TenantDetector:
    return TenantDetector(storage_dir=storage, warmup_threshold=WARMUP, config=TINY, **kw)


@dataclass
class Trained:
    """A storage (to copy, never to modify) with one HDFS project past its first training."""

    storage: Path
    api_key: str
    project_id: str
    log_count: int


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, lines: List[str]) -> Trained:
    storage = tmp_path_factory.mktemp("trained") / "storage"
    with open_tiny(storage) as det:
        p = det.create_project("hdfs-trained", format="hdfs")
        for start in range(0, 2000, 500):
            det.detect_batch(p.api_key, lines[start : start + 500])
        status = det.wait_for_training(p.api_key, timeout=TRAIN_TIMEOUT)
        assert status is not None and status.state == "succeeded", status
        assert det.status(p.api_key).phase == "active"
    return Trained(storage, p.api_key, p.project_id, 2000)


@pytest.fixture
def trained_copy(trained: Trained, tmp_path: Path) -> Iterator[Trained]:
    """A private copy of the trained storage."""
    dst = tmp_path / "storage"
    shutil.copytree(trained.storage, dst)
    yield Trained(dst, trained.api_key, trained.project_id, trained.log_count)


@pytest.fixture
def det(tmp_path: Path) -> Iterator[TenantDetector]:
    """A fresh detector with tiny models."""
    d = open_tiny(tmp_path / "storage")
    yield d
    d.close()
