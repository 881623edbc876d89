"""logsentinel: embeddable, multi-tenant log anomaly detection with a student-teacher design.

>>> from logsentinel import TenantDetector
>>> with TenantDetector(storage_dir="./data", warmup_threshold=10_000) as det:   # doctest: +SKIP
...     p = det.create_project("My Web App")
...     d = det.detect(p.api_key, "GET /index.html 200", session_id="10.0.0.7")
...     if d.is_anomaly:
...         print(d.template, d.anomaly_score, d.reasons)

Everything heavy runs in the Rust core with the GIL released. Errors are subclasses of
:class:`LogSentinelError`, one per error kind. :mod:`logsentinel.logging` has a ``logging.Handler`` that
feeds every record to a detector.
"""

from __future__ import annotations

from . import _native
from ._config import Config, ModelDims, default_config
from ._native import (
    BatchDetection,
    Cancelled,
    Components,
    Counted,
    CreatedProject,
    Detection,
    DetectorClosed,
    ExpectedTemplate,
    Feedback,
    Health,
    Incident,
    IncidentExample,
    InvalidApiKey,
    InvalidConfig,
    InvalidInput,
    JobHandle,
    JobStatus,
    LeaseHeld,
    LogSentinelError,
    ModelError,
    ProjectNotFound,
    ProjectStatus,
    ProjectSummary,
    SessionVerdict,
    SessionVerdictIterator,
    StorageError,
    TeacherInfo,
    TeacherUpdate,
    TenantDetector,
    TimeoutError,
    TrainingStatus,
)

__version__: str = _native.__version__

__all__ = [
    "BatchDetection",
    "Cancelled",
    "Components",
    "Config",
    "Counted",
    "CreatedProject",
    "Detection",
    "DetectorClosed",
    "ExpectedTemplate",
    "Feedback",
    "Health",
    "Incident",
    "IncidentExample",
    "InvalidApiKey",
    "InvalidConfig",
    "InvalidInput",
    "JobHandle",
    "JobStatus",
    "LeaseHeld",
    "LogSentinelError",
    "ModelDims",
    "ModelError",
    "ProjectNotFound",
    "ProjectStatus",
    "ProjectSummary",
    "SessionVerdict",
    "SessionVerdictIterator",
    "StorageError",
    "TeacherInfo",
    "TeacherUpdate",
    "TenantDetector",
    "TimeoutError",
    "TrainingStatus",
    "__version__",
    "default_config",
]
