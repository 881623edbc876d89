#!/usr/bin/env python3
"""Access-log lines carrying sqlmap's SQL injection payloads: an attacker the attack patterns were
never tuned on (issue 21, item 3).

    python3 scripts/bench/sqlmap_requests.py SQLMAP_XML_DIR OUT.log OUT_lines.csv [--seed N]

SQLMAP_XML_DIR is sqlmap's `data/xml` folder (`pip install sqlmap`; it holds `boundaries.xml` and
`payloads/*.xml`). Every test payload is combined with every boundary whose clause and place fit
(the way sqlmap builds a request), its placeholders filled with random values under the seed, and
written as a GET request of a combined-format access log, URL-encoded as sqlmap sends it, with an
ordinary browser user agent (so scanner-name rules cannot help). The labels CSV marks every line an
attack (`LineId,Label`). Run `core/examples/injection_side_by_side.rs` on the pair.
"""
import argparse
import glob
import os
import random
import urllib.parse
import xml.etree.ElementTree as ET

USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def fill(text, rng):
    """sqlmap's placeholders with values of the kind it uses."""
    if not text:
        return ""
    values = {
        "[GENERIC_SQL_COMMENT]": "-- -",
        "[SLEEPTIME]": "5",
        "[DELIMITER_START]": "qvkxq",
        "[DELIMITER_STOP]": "qzjpq",
        "[ORIGVALUE]": "1",
        "[ORIGINAL]": "1",
        "[INFERENCE]": f"{rng.randint(1000, 9999)}={rng.randint(1000, 9999)}",
    }
    for key, value in values.items():
        text = text.replace(key, value)
    for index in ("", "1", "2", "3", "4", "5"):
        while f"[RANDNUM{index}]" in text:
            text = text.replace(f"[RANDNUM{index}]", str(rng.randint(1000, 9999)), 1)
        while f"[RANDSTR{index}]" in text:
            word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4))
            text = text.replace(f"[RANDSTR{index}]", word, 1)
    return text


def numbers(field):
    return {int(x) for x in (field or "").split(",") if x.strip().isdigit()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("xml_dir")
    parser.add_argument("out_log")
    parser.add_argument("out_labels")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    boundaries = []
    for b in ET.parse(os.path.join(args.xml_dir, "boundaries.xml")).getroot().findall("boundary"):
        boundaries.append(
            (numbers(b.findtext("clause")), b.findtext("prefix") or "", b.findtext("suffix") or "")
        )
    requests = []
    for path in sorted(glob.glob(os.path.join(args.xml_dir, "payloads", "*.xml"))):
        for test in ET.parse(path).getroot().findall("test"):
            payload = test.findtext("request/payload")
            if not payload:
                continue  # UNION tests build their payload in code, not in the file.
            clauses = numbers(test.findtext("clause"))
            wheres = numbers(test.findtext("where"))
            comment = test.findtext("request/comment") or ""
            for clause_set, prefix, suffix in boundaries:
                if clauses and clause_set and not (clauses & clause_set) and 0 not in clause_set:
                    continue
                # sqlmap's place: 1 appends to the original value, 2 uses a negative number, 3
                # replaces it.
                where = min(wheres) if wheres else 1
                original = {1: "1", 2: f"-{rng.randint(1000, 9999)}", 3: ""}.get(where, "1")
                value = f"{original}{fill(prefix, rng)} {fill(payload, rng)}{fill(comment, rng)}{fill(suffix, rng)}"
                requests.append(value.strip())
    rng.shuffle(requests)

    with open(args.out_log, "w") as log, open(args.out_labels, "w") as labels:
        labels.write("LineId,Label\n")
        for number, value in enumerate(requests, 1):
            target = "/item.php?id=" + urllib.parse.quote(value, safe="")
            minute, second = divmod(number, 60)
            log.write(
                f'10.9.8.7 - - [17/May/2015:{10 + minute // 60:02d}:{minute % 60:02d}:{second:02d} +0000] '
                f'"GET {target} HTTP/1.1" 200 512 "-" "{USER_AGENT}"\n'
            )
            labels.write(f"{number},sqlmap\n")
    print(f"{len(requests)} requests written to {args.out_log}")


if __name__ == "__main__":
    main()
