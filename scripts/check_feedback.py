#!/usr/bin/env python3
"""Checks the last line of `logsentinel eval ... --feedback-budget 20 --json` (scripts/test.sh): the
curve has K = 0, 5, 10, 20, the operator reviewed what the budget allowed, and the truth it gave
through the public feedback call made the active-phase figures better, not worse."""
import json
import sys

report = json.loads(sys.stdin.read().strip().splitlines()[-1])
rows = {row["budget"]: row for row in report["feedback"]}
assert sorted(rows) == [0, 5, 10, 20], f"feedback curve budgets: {sorted(rows)}"
incidents = report["incidents"]
assert incidents["count"] > 0 and incidents["per_10k_lines"] > 0, incidents
assert rows[20]["reviewed"] == min(20, rows[20]["incidents"]["count"]), rows[20]
assert rows[0]["reviewed"] == 0, rows[0]
before, after = rows[0]["session_active"], rows[20]["session_active"]
assert after == report["session_active"], "the report's figures are the asked budget's"
assert after["fp"] <= before["fp"], (before, after)
assert after["f1"] > before["f1"], f"20 reviewed incidents did not help: {before} -> {after}"
print(f"feedback: session F1 {before['f1']:.4f} -> {after['f1']:.4f} with 20 reviewed incidents "
      f"({incidents['count']} incidents)")
