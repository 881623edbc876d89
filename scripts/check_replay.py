#!/usr/bin/env python3
"""Checks a `logsentinel replay --jsonl` file against the contract other tools read.

Every input line has exactly one record {"line", "session_id", "is_anomaly", "anomaly_score", "model_type",
"phase", "template_id", "template"} with lines numbered 1..N, and a readable template even where no
template matched (template_id 0); session verdicts are records with "session_end": true, no "line" and
"open_at_end_of_input" (sessions the end of the input cut); the three phases appear in order
warmup -> (training) -> active.
Usage: check_replay.py REPLAY.jsonl N_LINES
"""
import json
import sys

path, n = sys.argv[1], int(sys.argv[2])
seen = set()
phases = []
ends = 0
cut = 0
with open(path, encoding="utf-8") as f:
    for raw in f:
        o = json.loads(raw)
        if o.get("session_end"):
            assert "line" not in o, o
            assert isinstance(o["session_id"], str) and isinstance(o["is_anomaly"], bool), o
            assert isinstance(o["open_at_end_of_input"], bool), o
            assert o["open_at_end_of_input"] == (o["reason"] == "end_of_input"), o
            # A cut session is never judged on how it ended.
            assert not (o["open_at_end_of_input"] and o.get("cause") in ("end_surprise", "missing_template")), o
            cut += o["open_at_end_of_input"]
            ends += 1
            continue
        for k in ("line", "session_id", "is_anomaly", "anomaly_score", "model_type", "phase", "template_id", "template"):
            assert k in o, (k, o)
        assert isinstance(o["line"], int) and o["line"] not in seen, o
        assert o["session_id"] is None or isinstance(o["session_id"], str), o
        assert isinstance(o["template_id"], int) and isinstance(o["template"], str), o
        assert o["template"] or o["template_id"] != 0, ("no readable template", o)
        assert 0.0 <= o["anomaly_score"] <= 1.0, o
        assert o["model_type"] in ("teacher", "student") and o["phase"] in ("warmup", "training", "active"), o
        seen.add(o["line"])
        if not phases or phases[-1] != o["phase"]:
            phases.append(o["phase"])
assert seen == set(range(1, n + 1)), f"missing or extra line records: {len(seen)} of {n}"
assert phases[0] == "warmup" and phases[-1] == "active", phases
assert ends > 0, "no session verdicts"
print(f"replay contract ok: {n} line records, {ends} session verdicts ({cut} cut by the end of input), "
      f"phases {' -> '.join(phases)}")
