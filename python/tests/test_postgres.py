"""A detector kept in a shared PostgreSQL database, from Python (issue 24).

Run by ``scripts/test-python.sh`` under the throwaway server of ``scripts/test-postgres.sh``
(``LOGSENTINEL_TEST_POSTGRES_URL`` set); the main pytest run leaves this file out.
"""

from __future__ import annotations

import os
from typing import Any, List

import pytest

import logsentinel
from conftest import TINY, TRAIN_TIMEOUT, WARMUP
from logsentinel import TenantDetector


def database() -> str:
    url = os.environ.get("LOGSENTINEL_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("LOGSENTINEL_TEST_POSTGRES_URL is not set: run through scripts/test-postgres.sh")
    return url


def shared(instance: str, **kw: Any) -> TenantDetector:
    return TenantDetector(
        warmup_threshold=WARMUP,
        config=TINY,
        storage_url=database(),
        instance_id=instance,
        lease_ttl_secs=2.0,
        **kw,
    )


def test_a_project_kept_in_postgres_is_served_by_the_next_detector(lines: List[str]) -> None:
    with shared("py-a") as det:
        assert det.config["storage_url"] == database()
        p = det.create_project("hdfs-shared", format="hdfs")
        for start in range(0, 1500, 500):
            det.detect_batch(p.api_key, lines[start : start + 500])
        status = det.wait_for_training(p.api_key, timeout=TRAIN_TIMEOUT)
        assert status is not None and status.state == "succeeded", status
    # Another detector (another instance) finds it with its student: no warmup, no retraining.
    with shared("py-b") as det:
        st = det.status(p.api_key)
        assert st.phase == "active" and st.has_student_model
        assert st.log_count == 1500
        d = det.detect(p.api_key, lines[1500])
        assert d.model_type == "student"


def test_a_second_detector_is_told_which_instance_holds_the_database() -> None:
    holder = shared("py-holder:8000")
    try:
        with pytest.raises(logsentinel.LeaseHeld) as refused:
            shared("py-other:8000")
        assert refused.value.owner == "py-holder:8000"
        assert refused.value.code == "LEASE_HELD"
        assert isinstance(refused.value, logsentinel.LogSentinelError)
    finally:
        holder.close()
    # Released on close: the next one opens at once.
    shared("py-other:8000").close()


def test_a_storage_url_that_is_not_postgres_is_a_config_error() -> None:
    with pytest.raises(logsentinel.InvalidConfig, match="STORAGE_URL"):
        TenantDetector(config=TINY, storage_url="mysql://db/logs")


def test_with_project_leases_detectors_share_the_database_each_project_held_by_one() -> None:
    a = shared("py-fleet-a:8000", lease_scope="project")
    b = shared("py-fleet-b:8000", lease_scope="project")
    try:
        assert a.config["lease_scope"] == "project"
        p = a.create_project("fleet-web")
        a.detect(p.api_key, "GET /index.html 200")
        # The other detector finds the project, and is told which instance holds it.
        with pytest.raises(logsentinel.LeaseHeld) as held:
            b.detect(p.api_key, "GET /index.html 200")
        assert held.value.owner == "py-fleet-a:8000"
    finally:
        a.close()
    # Released on close: the other detector takes the project over with what was acknowledged.
    try:
        b.detect(p.api_key, "GET /index.html 200")
        assert b.status(p.api_key).log_count == 2
    finally:
        b.close()
