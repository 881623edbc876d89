"""logsentinel.logging.AnomalyHandler."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from logsentinel import Detection, TenantDetector
from logsentinel.logging import ANOMALY_LOGGER, AnomalyHandler

from conftest import open_tiny

ERROR_LINE = (
    "081109 203615 148 ERROR dfs.DataNode: Exception in receiveBlock java.io.IOException: "
    "Connection reset by peer"
)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Tuple[TenantDetector, str]]:
    with open_tiny(tmp_path / "s") as det:
        yield det, det.create_project("app", format="hdfs").api_key


def make_logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log


def test_handler_feeds_records_and_calls_back(
    project: Tuple[TenantDetector, str], lines: List[str]
) -> None:
    det, key = project
    hits: List[Tuple[Detection, logging.LogRecord]] = []
    handler = AnomalyHandler(det, key, callback=lambda d, r: hits.append((d, r)))
    log = make_logger("app.cb", handler)
    for line in lines[:300]:
        log.info(line)
    log.error(ERROR_LINE)
    assert handler.records_seen == 301
    assert det.status(key).log_count == 301
    assert hits and hits[-1][1].getMessage() == ERROR_LINE
    assert hits[-1][0].is_anomaly and handler.anomalies_seen == len(hits)


def test_formatter_and_session_are_used(project: Tuple[TenantDetector, str]) -> None:
    det, key = project
    seen: List[Detection] = []

    def remember(d: Detection, _: logging.LogRecord) -> None:
        seen.append(d)

    handler = AnomalyHandler(
        det, key, callback=remember, session=lambda r: getattr(r, "request_id", None)
    )
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = make_logger("app.session", handler)
    log.error("disk failure on node 7, giving up", extra={"request_id": "req-1"})
    status = det.status(key)
    assert status.log_count == 1 and status.open_sessions == 1
    v = det.close_session(key, "req-1")
    assert v is not None and v.lines == 1
    fixed = AnomalyHandler(det, key, session="fixed")
    make_logger("app.fixed", fixed).info("hello")
    assert det.close_session(key, "fixed") is not None


def test_warning_without_callback_never_recurses(
    project: Tuple[TenantDetector, str],
    lines: List[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    det, key = project
    root = logging.getLogger()
    handler = AnomalyHandler(det, key)
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        log = logging.getLogger("app.root")
        with caplog.at_level(logging.INFO):
            for line in lines[:300]:
                log.info(line)
            log.error(ERROR_LINE)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    warnings = [r for r in caplog.records if r.name == ANOMALY_LOGGER]
    assert warnings, "an anomaly should have been reported"
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert any(ERROR_LINE in r.getMessage() for r in warnings)
    assert isinstance(getattr(warnings[-1], "detection"), Detection)
    # Only the application's 301 records were scored, never the handler's own warnings.
    assert handler.records_seen == 301 == det.status(key).log_count


def test_callback_logging_is_not_fed_back(
    project: Tuple[TenantDetector, str], lines: List[str]
) -> None:
    det, key = project
    det.detect_batch(key, lines[:300])
    log = logging.getLogger("app.loop")
    calls: List[str] = []

    def noisy(d: Detection, r: logging.LogRecord) -> None:
        calls.append(d.template)
        log.error("anomaly seen: %s", d.template)  # goes through the same handler

    handler = AnomalyHandler(det, key, callback=noisy)
    make_logger("app.loop", handler)
    log.error(ERROR_LINE)
    assert len(calls) == 1
    assert handler.records_seen == 1 and det.status(key).log_count == 301


def test_detector_errors_go_to_handle_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    det = open_tiny(tmp_path / "s")
    key = det.create_project("x").api_key
    det.close()
    handler = AnomalyHandler(det, key)
    failures: List[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", failures.append)
    make_logger("app.closed", handler).info("after close")
    assert len(failures) == 1 and failures[0].getMessage() == "after close"
