#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/seeds/<target>/), a few KB each, from
the Loghub samples (core/tests/fixtures/loghub), the HDFS sample (tests/fixtures/hdfs) and the format
examples of core/src/parse/format.rs. Deterministic: rerun after changing a target's input encoding.

    python3 fuzz/make_seeds.py
"""

import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def lines_of(rel, n, start=0):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read().split(b"\n")[start : start + n]


LOGHUB = {
    name: lines_of(f"core/tests/fixtures/loghub/{name}/{name}_2k.log", 6)
    for name in ["HDFS", "Zookeeper", "Spark", "HPC", "Apache"]
}
HDFS = lines_of("tests/fixtures/hdfs/hdfs_dev_20k.log", 12, 100)

# One example per header format (the doc comments of core/src/parse/format.rs) plus edge cases.
EXAMPLES = [
    b"- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
    b"2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster",
    b"- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond[2915]: (root) CMD (run-parts /etc/cron.hourly)",
    b"2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505",
    b"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0",
    b"03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app wtoken",
    b"20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
    b"[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy proxy.cse.cuhk.edu.hk:5070 HTTPS",
    b"Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed",
    b"nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [req-38101a0b-2096-447d-96ea-a692162415ae 113d3a99c3da401fbd62cc2caa5b96d2 54fadb412c4e40cdbaed9335e4c35a9e - - -] 10.11.10.1 \"GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail HTTP/1.1\" status: 200 len: 1893 time: 0.2477829",
    b"Jul  1 09:00:55 calvisitor-10-105-160-95 kernel[0]: IOThunderboltSwitch<0>(0x0)::listenerCallback",
    b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
    b'127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 -',
    b"<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed for lonvick on /dev/pts/8",
    b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event",
    b'{"timestamp": "2024-01-02T03:04:05Z", "level": "error", "logger": "db", "message": "connection refused to 10.0.0.1:5432"}',
    b'{"time": 1700000000.5, "msg": "ok", "lvl": "I"}',
    b"",
    b"\x00\x1b[31mred\x1b[0m \xff\xfe invalid utf8 \xc3\x28",
    b"no header at all <*> blk_1 key=value user=alice",
]


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def miner():
    for i, (name, ls) in enumerate(LOGHUB.items()):
        # settings: threshold 9/15, depth 1, uppercase protected / 16 candidates, max 3*k templates
        put("miner", name.lower(), bytes([0x49 + (i << 7 & 0x80), 0x0F | ((i + 1) << 5)]) + b"\n".join(ls))
    put("miner", "hdfs-sessions", bytes([0x19, 0xFF]) + b"\n".join(HDFS))
    put("miner", "examples", bytes([0xC9, 0x6F]) + b"\n".join(EXAMPLES[:10]))


def header():
    put("header", "formats-a", b"\n".join(EXAMPLES[:10]))
    put("header", "formats-b", b"\n".join(EXAMPLES[10:]))
    for name, ls in LOGHUB.items():
        put("header", name.lower(), b"\n".join(ls[:4]))
    put("header", "name", b"Zookeeper")


def config():
    put("config", "json-small", json.dumps({"storage_dir": "/tmp/x", "warmup_threshold": 300}).encode())
    put(
        "config",
        "json-full",
        json.dumps(
            {
                "storage_dir": "/tmp/x",
                "model_dir": None,
                "device": "cpu",
                "warmup_threshold": 1000,
                "teacher_update_days": 7.0,
                "host": "127.0.0.1",
                "port": 8000,
                "admin_api_key": "admin",
                "session_idle_timeout_secs": 60.0,
                "max_sessions_per_project": 10,
                "max_templates_per_project": 16,
                "max_line_bytes": 64,
                "max_batch_size": 10,
                "min_training_sequences": 10,
                "max_training_sequences": 20,
                "target_false_positive_rate": 0.01,
                "anomaly_threshold": 0.5,
                "window": 8,
                "teacher": {"n_layers": 1, "d_model": 32, "n_heads": 2, "d_ff": 64},
                "student": {"n_layers": 1, "d_model": 32, "n_heads": 2, "d_ff": 64},
                "distill_epochs": 1,
                "distill_alpha": 0.5,
                "distill_temperature": 3.0,
                "teacher_epochs": 1,
                "teacher_finetune_epochs": 1,
                "training_threads": 1,
                "drift_retrain_ratio": 0.05,
                "commit_every_logs": 100,
                "student_memory_budget_bytes": 1048576,
                "seed": 7,
            }
        ).encode(),
    )
    put(
        "config",
        "env",
        b"STORAGE_DIR=/tmp/x\nLOGSENTINEL_STORAGE_DIR=/tmp/y\nWARMUP_THRESHOLD=500\nTEACHER_UPDATE_DAYS=1.5\n"
        b"PORT=9000\nDEVICE=CPU\nLOGSENTINEL_MODEL_SIZE=tiny\nLOGSENTINEL_MAX_LINE_BYTES=128\n"
        b"LOGSENTINEL_ANOMALY_THRESHOLD=0.7\nMODEL_DIR=\nADMIN_API_KEY=secret\nHOST= 0.0.0.0 \n",
    )
    put("config", "env-short", b"a=/tmp\ng=100\nh=NaN\n_f=-1\ns=tiny\nc=gpu\nl=1e3\n")
    put("config", "miner", json.dumps({"similarity_threshold": 0.4, "protected_tokens": ["x", ""]}).encode())


def api_json():
    put(
        "api_json",
        "create",
        json.dumps(
            {
                "project_name": "My Web App",
                "warmup_threshold": 10000.0,
                "format": "HDFS",
                "session_pattern": "(blk_-?\\d+)",
                "custom_rules": [{"name": "oom", "pattern": "(?i)out of memory", "severity": 0.8}],
            }
        ).encode(),
    )
    put(
        "api_json",
        "new-project",
        json.dumps(
            {
                "name": "p",
                "warmup_threshold": 100,
                "format": "combined",
                "session_pattern": "^(\\S+)",
                "custom_rules": [{"name": "custom:x", "pattern": "a+b", "severity": 1.0}],
            }
        ).encode(),
    )
    put("api_json", "detect", json.dumps({"log_line": HDFS[0].decode(), "session_id": "blk_1"}).encode())
    put(
        "api_json",
        "batch",
        json.dumps({"logs": [{"log_line": l.decode()} for l in LOGHUB["Spark"][:3]] + [{"log_line": "x", "session_id": None}]}).encode(),
    )
    put("api_json", "records", json.dumps([{"log_line": "a\u0000b\u001b[0m", "session_id": "s"}]).encode())
    put("api_json", "close", b'{"session_id": "blk_-1"}')
    put("api_json", "query", b"max=100")
    put("api_json", "key", b"sk-" + b"A" * 43)


# ---- c_api: programs in the encoding of fuzz/fuzz_targets/c_api.rs (Input::byte / bytes / u64).


def b(data):
    """A length-prefixed slice."""
    if len(data) < 255:
        return bytes([len(data)]) + data
    return bytes([255, len(data) & 255, len(data) >> 8]) + data


def key(sel=0):
    return bytes([sel])  # 0: A, 3: B


def detect(line, sel=0, sid=None):
    return bytes([0]) + key(sel) + b(line) + (bytes([0]) if sid is None else bytes([1]) + b(sid)) + bytes([0])


def detect_json(line, sel=0, sid=None):
    return bytes([2]) + key(sel) + b(line) + (bytes([0]) if sid is None else bytes([1]) + b(sid))


def batch(lines, sel=0, json_=False):
    out = bytes([6 if json_ else 4]) + key(sel) + bytes([len(lines)]) + bytes([0])  # no session ids
    for l in lines:
        out += b(l)
    out += bytes([0])  # lines pointer valid
    if not json_:
        out += bytes([0, 1])  # results valid, anomalies counted
    return out


def c_api():
    put("c_api", "detect-a", b"".join(detect(l) for l in EXAMPLES[:8]))
    put("c_api", "detect-b", b"".join(detect_json(l, sel=3) for l in HDFS[:10]))
    put("c_api", "batch", batch(LOGHUB["Zookeeper"][:5]) + batch(HDFS[:4], sel=3, json_=True))
    put(
        "c_api",
        "sessions",
        detect(HDFS[0], sel=3, sid=b"blk_1")
        + detect(HDFS[1], sel=3, sid=b"blk_1")
        + bytes([8]) + key(3) + bytes([1]) + b(b"blk_1")  # close_session
        + bytes([9]) + key(0)  # close_all_sessions
        + bytes([10]) + key(3) + struct.pack("<Q", 100)  # poll
        + bytes([11]) + key(0) + bytes([1])  # reset_sessions
        + bytes([12]) + key(0) + bytes([0])  # status
        + bytes([13]) + key(3) + bytes([0, 5, 1])  # training job, wait, cancel
        + bytes([14]) + key(3) + bytes([5])  # wait_for_training
        + bytes([15, 0, 0, 15, 1, 0, 15, 2, 0, 15, 3, 0])  # health, teacher, history, list
        + bytes([16]),  # flush
    )
    put(
        "c_api",
        "admin",
        bytes([18, 0]) + b(b"tenant \xc3\xa9") + bytes([0])  # create by name
        + bytes([18, 1]) + b(b'{"name": "x", "format": "syslog", "session_pattern": "(\\\\d+)"}') + bytes([0])
        + bytes([17, 0, 0, 1])  # rotate A's key
        + bytes([0, 5]) + b(b"line with an old key") + bytes([0, 0])
        + bytes([19, 0])  # delete an extra project
        + bytes([20, 1])  # callback on
        + bytes([21]) + struct.pack("<d", 1.0e9) + bytes([0])  # clock back
        + bytes([21]) + struct.pack("<d", 0.0) + bytes([3, 5])  # clock +5 days
        + bytes([22, 7, 0, 0x85, 3])  # last error into 7 bytes
        + bytes([23, 0]),  # is_closed
    )
    put(
        "c_api",
        "open",
        bytes([25]) + b(json.dumps({"warmup_threshold": 200, "seed": 3}).encode()) + bytes([1, 2]) + b(EXAMPLES[4]) + b(EXAMPLES[5])
        + bytes([25]) + b(b'{"warmup_threshold": 5}') + bytes([0])
        + bytes([25]) + b(b"\xff{")
        + bytes([7, 0]) + b(b"long ") + bytes([16]),  # 64 KiB line
    )
    put(
        "c_api",
        "nulls",
        bytes([0x82, 0, 0]) + b(b"x") + bytes([0, 0])  # NULL detector
        + bytes([0, 7, 0]) + b(b"line") + bytes([0, 0])  # NULL key
        + bytes([0, 0]) + b(b"y") + bytes([0, 1])  # NULL result_out
        + bytes([4, 0, 2, 0]) + b(b"a") + b(b"b") + bytes([7, 0, 0])  # NULL lines
        + bytes([4, 0, 0xFF, 3, 0]) + b(b"a") * 9 + bytes([0, 0, 1]),  # 68 lines > max_batch_size
    )


def main():
    # Everything but the regress-* inputs (failures found by fuzzing, kept to be replayed) is rewritten.
    for t in os.listdir(SEEDS) if os.path.isdir(SEEDS) else []:
        for f in os.listdir(os.path.join(SEEDS, t)):
            if not f.startswith("regress-"):
                os.remove(os.path.join(SEEDS, t, f))
    miner()
    header()
    config()
    api_json()
    c_api()
    for t in sorted(os.listdir(SEEDS)):
        files = os.listdir(os.path.join(SEEDS, t))
        size = sum(os.path.getsize(os.path.join(SEEDS, t, f)) for f in files)
        print(f"{t}: {len(files)} files, {size} bytes")


if __name__ == "__main__":
    main()
