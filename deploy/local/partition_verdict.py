#!/usr/bin/env python3
"""One partition scenario's line for deploy/local/partitions.sh, from `parcelctl loadtest --json`.

    partition_verdict.py SCENARIO EXIT_STATUS REPORT.json

Prints one JSON object: scenario, ok, lost, applied_twice, redelivered, recovery_seconds,
probe_recovery_seconds, parcels, seconds, violations. `ok` is the load test's own verdict (its exit
status 0 and its report's "ok"). Exits 2 when the report is missing or not the load test's.
"""
import json
import sys

REPORT_BYTES = 16 << 20


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    scenario, status, path = argv[1], int(argv[2]), argv[3]
    try:
        with open(path, "rb") as handle:
            data = handle.read(REPORT_BYTES + 1)
        if len(data) > REPORT_BYTES:
            raise ValueError(f"over {REPORT_BYTES} bytes")
        report = json.loads(data)
        if not isinstance(report, dict) or "lost" not in report:
            raise ValueError("not a load test report")
    except (OSError, ValueError) as error:
        print(f"partition_verdict.py: {path}: {error}", file=sys.stderr)
        return 2
    probe = [restart.get("recovery_ms") for restart in report.get("node_restarts") or []]
    probe = [value for value in probe if isinstance(value, (int, float))]
    line = {
        "scenario": scenario,
        "ok": status == 0 and report.get("ok") is True,
        "lost": report["lost"],
        "applied_twice": report.get("duplicated"),
        "redelivered": report.get("redelivered"),
        "recovery_seconds": report.get("longest_wait_s"),
        "probe_recovery_seconds": round(max(probe) / 1000, 3) if probe else None,
        "parcels": report.get("parcels"),
        "seconds": report.get("seconds"),
        "violations": report.get("violations", []),
    }
    print(json.dumps(line, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
