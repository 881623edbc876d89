"""A :class:`logging.Handler` that feeds every record to a logsentinel project.

>>> import logging
>>> from logsentinel import TenantDetector
>>> from logsentinel.logging import AnomalyHandler
>>> det = TenantDetector(storage_dir="./data")                       # doctest: +SKIP
>>> key = det.create_project("my-service").api_key                   # doctest: +SKIP
>>> logging.getLogger().addHandler(AnomalyHandler(det, key))         # doctest: +SKIP

Each record is formatted with the handler's formatter and scored. On an anomaly the handler calls
``callback(detection, record)`` when one was given, else logs a warning on the ``logsentinel.anomalies``
logger. That warning (and anything logged while the handler works, e.g. by the callback) is never fed
back into the detector, even when the handler sits on the root logger.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional, Union

from ._native import Detection, TenantDetector

__all__ = ["AnomalyHandler", "AnomalyCallback", "SessionSource", "ANOMALY_LOGGER"]

#: Name of the logger the handler warns on when it has no callback.
ANOMALY_LOGGER = "logsentinel.anomalies"

#: ``callback(detection, record)``, called for each anomalous record.
AnomalyCallback = Callable[[Detection, logging.LogRecord], None]

#: Where a record's session id comes from: ``None`` (the project's session pattern or its format's
#: default key decides), a fixed id, or a function of the record.
SessionSource = Union[None, str, Callable[[logging.LogRecord], Optional[str]]]


class AnomalyHandler(logging.Handler):
    """Feeds each formatted record to ``detector.detect(api_key, line, session_id)``.

    ``session`` picks the session id: ``None``, a fixed string, or a callable taking the
    :class:`logging.LogRecord` (e.g. ``lambda r: getattr(r, "request_id", None)``).
    ``callback(detection, record)`` is called for anomalies; without one, a warning is logged on
    ``warn_logger`` (default ``logging.getLogger("logsentinel.anomalies")``). Errors of the detector
    (for instance after it was closed) go through :meth:`logging.Handler.handleError`, like any
    handler's.
    """

    def __init__(
        self,
        detector: TenantDetector,
        api_key: str,
        callback: Optional[AnomalyCallback] = None,
        session: SessionSource = None,
        level: int = logging.NOTSET,
        warn_logger: Optional[logging.Logger] = None,
    ) -> None:
        super().__init__(level)
        self.detector = detector
        self.api_key = api_key
        self.callback = callback
        self.session = session
        self.warn_logger = (
            warn_logger if warn_logger is not None else logging.getLogger(ANOMALY_LOGGER)
        )
        self._busy = threading.local()
        #: Records scored and anomalies found by this handler.
        self.records_seen = 0
        self.anomalies_seen = 0

    def _session_id(self, record: logging.LogRecord) -> Optional[str]:
        source = self.session
        if source is None or isinstance(source, str):
            return source
        sid = source(record)
        return None if sid is None else str(sid)

    def emit(self, record: logging.LogRecord) -> None:
        # Anything logged while this thread is inside emit (our own warning, the callback's logging,
        # the formatter's) is not fed back: no recursion, no detector scoring its own output.
        if getattr(self._busy, "active", False) or record.name == self.warn_logger.name:
            return
        self._busy.active = True
        try:
            line = self.format(record)
            detection = self.detector.detect(self.api_key, line, self._session_id(record))
            self.records_seen += 1
            if not detection.is_anomaly:
                return
            self.anomalies_seen += 1
            if self.callback is not None:
                self.callback(detection, record)
            else:
                self.warn_logger.warning(
                    "log anomaly (score %.2f, %s): %s | reasons: %s",
                    detection.anomaly_score,
                    detection.model_type,
                    line,
                    "; ".join(detection.reasons) or "-",
                    extra={"detection": detection},
                )
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
        finally:
            self._busy.active = False
