#!/usr/bin/env python3
"""test_summary.py RESULTS -- counts every test case of the suite.

Reads the JUnit XML files that the C tests (cmocka), pytest and the fuzz
runs wrote into RESULTS, and the meson test logs, so that a test program
that crashed before writing its XML still counts as a failure, and
RESULTS/build-failures, where run-tests.sh names each build that did not
compile (its tests never ran). Prints the
failures, then one line "N passed, N failed, N skipped", and exits 1 if
anything failed.
"""
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET


def count_xml(path, failures):
    passed = failed = skipped = 0
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        failures.append(f"{os.path.basename(path)}: unreadable XML ({exc})")
        return 0, 1, 0
    prefix = os.path.basename(path)[: -len(".xml")]
    for case in root.iter("testcase"):
        name = f"{prefix}: {case.get('classname', '')} {case.get('name')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            failed += 1
            msg = (bad.get("message") or bad.text or "").strip()
            failures.append(f"{name}: {msg[:300]}")
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    results = sys.argv[1]
    passed = failed = skipped = 0
    failures = []
    xml_failed = {}  # xml file stem -> failures it recorded
    for path in sorted(glob.glob(os.path.join(results, "*.xml"))):
        p, f, s = count_xml(path, failures)
        passed, failed, skipped = passed + p, failed + f, skipped + s
        xml_failed[os.path.basename(path)[:-4]] = (p, f)
    # A program meson saw fail, whose XML shows no failure (or is missing),
    # crashed or timed out: count it once.
    for log in sorted(glob.glob(os.path.join(results, "testlog-*.json"))):
        flavour = os.path.basename(log)[len("testlog-"):-len(".json")]
        with open(log, encoding="utf-8") as fh:
            for line in fh:
                entry = json.loads(line)
                if entry.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
                    continue
                name = entry["name"].split(" / ")[-1]
                stem = f"{flavour}-{name}"
                p, f = xml_failed.get(stem, (0, 0))
                if f == 0:
                    failed += 1
                    out = (entry.get("stdout") or "").strip().splitlines()
                    tail = " | ".join(out[-3:])[:300]
                    failures.append(
                        f"{stem}: {entry.get('result')} "
                        f"(exit {entry.get('returncode')}) {tail}")
    # A build that did not compile (run-tests.sh): its tests never ran.
    try:
        with open(os.path.join(results, "build-failures"),
                  encoding="utf-8") as fh:
            for dirname in fh.read().split():
                failed += 1
                failures.append(f"{dirname}: the build failed, its tests "
                                "did not run")
    except FileNotFoundError:
        pass
    for line in failures:
        print("FAILED", line)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
