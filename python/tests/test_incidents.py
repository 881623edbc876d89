"""Incidents and operator feedback through the binding: flagged lines join an incident, feedback on it
silences the next line of its pattern at once, survives a restart and is undone. Real detector, tiny
models, real storage (the traffic mirrors core/tests/incidents.rs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Sequence, Tuple

import pytest

import logsentinel
from logsentinel import Config, Detection, Feedback, Incident, TenantDetector

from conftest import open_tiny

#: The failing client's session: its errors are never common in the project.
FAILING = "10.9.9.9"


def client(i: int, sessions: int = 300) -> str:
    return f"10.0.{(i % sessions) // 250}.{(i % sessions) % 250 + 1}"


def normal(i: int) -> Tuple[str, str]:
    return (f"INFO GET /item/{i % 50} served in {i % 13} ms", client(i))


def failing(i: int) -> Tuple[str, str]:
    return (f"ERROR db connection refused after {i % 97} ms", FAILING)


def traffic(start: int, n: int) -> List[Tuple[str, str]]:
    """`n` lines from `start`, every tenth one the failing client's error."""
    return [failing(i) if i % 10 == 0 else normal(i) for i in range(start, start + n)]


def feed(det: TenantDetector, key: str, records: Sequence[Tuple[str, str]]) -> List[Detection]:
    out: List[Detection] = []
    for start in range(0, len(records), 100):
        out.extend(det.detect_batch(key, records[start : start + 100]).results)
    return out


def errors(results: Sequence[Detection]) -> List[Detection]:
    return [d for d in results if d.template.startswith("ERROR")]


def project(det: TenantDetector, name: str) -> str:
    """A project that stays in warmup: lines are flagged by the rules, no training starts."""
    return det.create_project(name, warmup_threshold=100_000).api_key


def test_flagged_lines_form_an_incident_that_feedback_silences_until_undone(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "storage"
    det = open_tiny(storage)
    raised: List[Incident] = []
    det.set_incident_callback(raised.append)
    key = project(det, "shop")

    results = feed(det, key, traffic(0, 1000))
    flagged = errors(results)
    assert len(flagged) == 100
    assert all(d.is_anomaly for d in flagged), "one client's errors"
    incident_id = flagged[0].incident_id
    assert incident_id is not None, "a flagged line carries its incident"
    assert flagged[0].pattern, flagged[0]
    assert all(d.incident_id == incident_id for d in flagged)
    assert all(d.incident_id is None for d in results if not d.is_anomaly)
    assert all(d.feedback_id is None for d in results)
    assert flagged[0].to_dict()["incident_id"] == incident_id

    # Raised once: to the poll queue and to the callback.
    polled = det.poll_incidents(key)
    assert [i.id for i in polled] == [incident_id]
    assert det.poll_incidents(key, max=10) == []
    assert [i.id for i in raised] == [incident_id]
    assert isinstance(raised[0], Incident)

    incident = det.incident(key, incident_id)
    assert incident.id == incident_id and incident.state == "open"
    assert incident.pattern == flagged[0].pattern
    assert incident.project_id == flagged[0].project_id
    assert (incident.lines, incident.sessions) == (100, 1)
    assert incident.session_ids == [FAILING]
    assert incident.title
    assert incident.top_templates[0].name.startswith("ERROR db connection refused")
    assert incident.top_templates[0].count >= 1
    assert incident.examples and incident.examples[0].reasons
    assert incident.examples[0].session_id == FAILING
    assert not incident.examples[0].session_verdict
    assert incident.feedback is None
    assert incident.to_dict()["id"] == incident_id and incident.to_dict()["state"] == "open"
    assert [i.id for i in det.incidents(key, state="open")] == [incident_id]
    assert det.incidents(key, state="resolved") == []
    assert [i.id for i in det.incidents(key)] == [incident_id]

    # "Normal here": the very next error of the pattern passes, saying why.
    mark = det.feedback(key, incident_id=incident_id, label="normal", note="known flaky db")
    assert isinstance(mark, Feedback)
    assert (mark.label, mark.scope) == ("normal", "pattern")
    assert mark.key == incident.pattern and mark.incident_id == incident_id
    assert mark.expires_at is None and mark.note == "known flaky db"
    assert mark.to_dict()["id"] == mark.id
    after = errors(feed(det, key, traffic(1000, 100)))
    assert len(after) == 10
    for d in after:
        assert not d.is_anomaly, d
        assert d.feedback_id == mark.id
        assert "marked normal by operator feedback" in d.reasons[0]
    assert det.incident(key, incident_id).feedback == "normal"
    assert det.list_feedback(key) == [mark]

    # It survives closing and reopening the detector.
    det.close()
    with open_tiny(storage) as det:
        assert det.list_feedback(key) == [mark]
        assert all(not d.is_anomaly for d in errors(feed(det, key, traffic(1100, 100))))
        assert [i.id for i in det.incidents(key)] == [incident_id]

        # Undone: flagged again from the next line.
        assert det.undo_feedback(key, mark.id) == mark
        again = errors(feed(det, key, traffic(1200, 100)))
        assert again and all(d.is_anomaly and d.feedback_id is None for d in again)
        assert det.incident(key, incident_id).feedback is None
        assert det.list_feedback(key) == []
        with pytest.raises(logsentinel.InvalidInput):
            det.undo_feedback(key, mark.id)


def test_feedback_on_a_key_with_a_scope_and_a_duration(det: TenantDetector) -> None:
    key = project(det, "direct")
    feed(det, key, traffic(0, 200))
    direct = det.feedback(
        key, key="10.0.0.1", label="anomaly", scope="client", duration_secs=3600
    )
    assert (direct.key, direct.incident_id) == ("10.0.0.1", None)
    assert (direct.label, direct.scope) == ("anomaly", "client")
    assert direct.expires_at == pytest.approx(direct.created_at + 3600)
    line, session = normal(0)
    assert session == "10.0.0.1"
    d = det.detect(key, line, session_id=session)
    assert d.is_anomaly and d.feedback_id == direct.id, d
    assert "confirmed by operator feedback" in d.reasons[0]
    assert det.list_feedback(key) == [direct]


def test_bad_feedback_arguments_are_refused_and_change_nothing(det: TenantDetector) -> None:
    key = project(det, "strict")
    flagged = errors(feed(det, key, traffic(0, 200)))
    incident_id = flagged[0].incident_id
    assert incident_id is not None

    bad: Any = "maybe"
    with pytest.raises(logsentinel.InvalidInput) as e:
        det.feedback(key, incident_id=incident_id, label=bad)
    assert '"normal"' in e.value.reason and '"anomaly"' in e.value.reason
    assert isinstance(e.value, ValueError) and e.value.code == "INVALID_INPUT"
    bad = "everything"
    with pytest.raises(logsentinel.InvalidInput) as e:
        det.feedback(key, incident_id=incident_id, label="normal", scope=bad)
    for allowed in ("pattern", "template", "rule", "client"):
        assert f'"{allowed}"' in str(e.value)
    bad = "closed"
    with pytest.raises(logsentinel.InvalidInput, match='"open", "resolved"'):
        det.incidents(key, state=bad)

    with pytest.raises(logsentinel.InvalidInput, match="exactly one of incident_id and key"):
        det.feedback(key, incident_id=incident_id, key="10.0.0.1", label="normal")
    with pytest.raises(logsentinel.InvalidInput, match="exactly one of incident_id and key"):
        det.feedback(key, label="normal")
    with pytest.raises(logsentinel.InvalidInput, match="no incident"):
        det.feedback(key, incident_id=incident_id + 100, label="normal")
    with pytest.raises(logsentinel.InvalidInput):
        det.feedback(key, incident_id=incident_id, label="normal", duration_secs=-5)
    with pytest.raises(logsentinel.InvalidInput):
        det.feedback(key, key="", label="normal", scope="client")
    with pytest.raises(logsentinel.InvalidInput, match="no incident"):
        det.incident(key, incident_id + 100)
    with pytest.raises(logsentinel.InvalidInput):
        det.undo_feedback(key, 12345)
    with pytest.raises(TypeError):
        det.feedback(key, incident_id=incident_id)  # type: ignore[call-arg]
    with pytest.raises(logsentinel.InvalidApiKey):
        det.incidents("sk-not-a-key")
    with pytest.raises(logsentinel.InvalidApiKey):
        det.feedback("sk-not-a-key", key="x", label="normal")
    assert det.list_feedback(key) == []
    assert det.incident(key, incident_id).feedback is None

    # Scopes resolve to the incident's own signal.
    by_client = det.feedback(key, incident_id=incident_id, label="normal", scope="client")
    assert by_client.key == FAILING
    by_template = det.feedback(key, incident_id=incident_id, label="normal", scope="template")
    assert by_template.key.startswith("ERROR db connection refused")
    assert det.list_feedback(key) == [by_client, by_template]

    det.close()
    with pytest.raises(logsentinel.DetectorClosed):
        det.poll_incidents(key)
    with pytest.raises(logsentinel.DetectorClosed):
        det.list_feedback(key)


def test_incident_callback_receives_incidents_and_its_errors_never_reach_the_detector(
    det: TenantDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    got: List[Incident] = []
    det.set_incident_callback(got.append)
    first = project(det, "first")
    flagged = errors(feed(det, first, traffic(0, 100)))
    assert flagged and flagged[0].incident_id is not None
    assert [i.id for i in got] == [flagged[0].incident_id]
    assert got[0].project_id == flagged[0].project_id and got[0].state == "open"
    assert got == det.poll_incidents(first)

    # A raising callback never reaches the detector (it goes to sys.unraisablehook).
    def bad(_: Incident) -> None:
        raise RuntimeError("callback failed")

    unraisable: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    det.set_incident_callback(bad)
    second = project(det, "second")
    assert errors(feed(det, second, traffic(0, 100)))[0].is_anomaly
    assert len(unraisable) == 1 and isinstance(unraisable[0].exc_value, RuntimeError)

    # Cleared: incidents are still queued, nobody is called.
    det.set_incident_callback(None)
    third = project(det, "third")
    assert errors(feed(det, third, traffic(0, 100)))[0].is_anomaly
    assert len(det.poll_incidents(third)) == 1
    assert len(got) == 1 and len(unraisable) == 1
    with pytest.raises(TypeError):
        det.set_incident_callback(42)  # type: ignore[arg-type]


def test_incident_callback_cycle_is_collected(tmp_path: Path) -> None:
    """A callback referring to its detector is a cycle the GC can see and collect (storage released)."""
    import gc

    det = open_tiny(tmp_path / "s")
    det.set_incident_callback(lambda i: det.health())
    del det
    gc.collect()
    with open_tiny(tmp_path / "s") as again:  # would be StorageError while the first one lived
        assert again.list_projects() == []


def test_incident_gap_secs_is_a_config_field(tmp_path: Path) -> None:
    with open_tiny(tmp_path / "a", incident_gap_secs=60) as det:
        assert det.config["incident_gap_secs"] == 60
    with TenantDetector(config=Config.tiny(storage_dir=tmp_path / "b", incident_gap_secs=90.5)) as det:
        assert det.config["incident_gap_secs"] == 90.5
    assert logsentinel.default_config()["incident_gap_secs"] == 3600
    with pytest.raises(logsentinel.InvalidConfig, match="incident_gap_secs"):
        open_tiny(tmp_path / "c", incident_gap_secs=0)
