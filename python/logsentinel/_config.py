"""Typed configuration for :class:`logsentinel.TenantDetector`.

Every field defaults to ``None``, meaning "the core's default" (see :func:`default_config`), so a
``Config`` only says what it changes. A plain ``dict`` with the same keys works too.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Literal, Optional, Union

from . import _native

__all__ = ["Config", "ModelDims", "default_config"]


@dataclasses.dataclass(frozen=True)
class ModelDims:
    """Sizes of one sequence model (teacher or student)."""

    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int

    @classmethod
    def tiny(cls) -> "ModelDims":
        """1 layer, d 32, 2 heads, FFN 64: for tests and quick demos."""
        return cls(n_layers=1, d_model=32, n_heads=2, d_ff=64)


@dataclasses.dataclass
class Config:
    """Settings of a detector; ``None`` keeps the core's default for that field."""

    storage_dir: Optional[Union[str, "os.PathLike[str]"]] = None
    storage_url: Optional[str] = None
    instance_id: Optional[str] = None
    lease_ttl_secs: Optional[float] = None
    lease_wait_secs: Optional[float] = None
    lease_scope: Optional[Literal["storage", "project"]] = None
    model_dir: Optional[Union[str, "os.PathLike[str]"]] = None
    device: Optional[Literal["cpu", "cuda"]] = None
    warmup_threshold: Optional[int] = None
    teacher_update_days: Optional[float] = None
    host: Optional[str] = None
    port: Optional[int] = None
    admin_api_key: Optional[str] = None
    session_idle_timeout_secs: Optional[float] = None
    incident_gap_secs: Optional[float] = None
    max_sessions_per_project: Optional[int] = None
    max_templates_per_project: Optional[int] = None
    max_line_bytes: Optional[int] = None
    max_batch_size: Optional[int] = None
    min_training_sequences: Optional[int] = None
    max_training_sequences: Optional[int] = None
    target_false_positive_rate: Optional[float] = None
    anomaly_threshold: Optional[float] = None
    window: Optional[int] = None
    teacher: Optional[ModelDims] = None
    student: Optional[ModelDims] = None
    distill_epochs: Optional[int] = None
    distill_alpha: Optional[float] = None
    distill_temperature: Optional[float] = None
    teacher_epochs: Optional[int] = None
    teacher_finetune_epochs: Optional[int] = None
    training_threads: Optional[int] = None
    drift_retrain_ratio: Optional[float] = None
    commit_every_logs: Optional[int] = None
    seed: Optional[int] = None

    @classmethod
    def tiny(cls, **fields: Any) -> "Config":
        """Tiny teacher and student and short training (like Rust's ``Config::tiny_models()``)."""
        base: Dict[str, Any] = dict(
            teacher=ModelDims.tiny(), student=ModelDims.tiny(), teacher_epochs=2
        )
        base.update(fields)
        return cls(**base)

    def to_dict(self) -> Dict[str, Any]:
        """The fields that are set, as the dict the core reads (paths as strings)."""
        out: Dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, ModelDims):
                value = dataclasses.asdict(value)
            elif isinstance(value, os.PathLike):
                value = os.fspath(value)
            out[f.name] = value
        return out


def default_config() -> Dict[str, Any]:
    """The core's default for every field, as a dict."""
    return _native.default_config()
