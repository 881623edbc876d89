#!/usr/bin/env python3
"""Times Drain3 (logpai/Drain3 from PyPI) on message files, for `logsentinel bench parse --drain3`.

Usage: drain3_bench.py [--config drain3.ini] [--ids-dir DIR] FILE...

Each FILE holds one message per line (the Loghub `Content` column, i.e. the log line after its
header); each file is mined by a fresh TemplateMiner with Drain3's example configuration (masks for
IDs, IPs, hex and numbers). Only the `add_log_message` loop is timed (reading is not). Prints one
JSON object per file: {"file", "lines", "seconds", "lines_per_s", "clusters"}. With --ids-dir, also
writes DIR/<basename>.ids: one line per message, `cluster_id<TAB>final template of that cluster`.
"""

import argparse
import json
import os
import sys
import time

from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(here, "drain3.ini"))
    parser.add_argument("--ids-dir", default=None)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    config = TemplateMinerConfig()
    config.load(args.config)
    config.profiling_enabled = False
    for path in args.files:
        with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
            lines = handle.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        miner = TemplateMiner(config=config)
        add = miner.add_log_message
        ids = [0] * len(lines) if args.ids_dir else None
        started = time.perf_counter()
        if ids is None:
            for line in lines:
                add(line)
        else:
            for index, line in enumerate(lines):
                ids[index] = add(line)["cluster_id"]
        seconds = max(time.perf_counter() - started, 1e-9)
        clusters = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
        if ids is not None:
            out = os.path.join(args.ids_dir, os.path.basename(path) + ".ids")
            with open(out, "w", encoding="utf-8") as handle:
                for cluster_id in ids:
                    template = clusters.get(cluster_id, "").replace("\t", " ").replace("\n", " ")
                    handle.write(f"{cluster_id}\t{template}\n")
        print(
            json.dumps(
                {
                    "file": path,
                    "lines": len(lines),
                    "seconds": seconds,
                    "lines_per_s": len(lines) / seconds,
                    "clusters": len(clusters),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
