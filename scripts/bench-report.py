#!/usr/bin/env python3
"""Prints the CPU benchmark medians from Criterion's estimates (this run's), per event, with the
gateway / floor ratios that docs/PERFORMANCE.md records."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def median_ns(group, name):
    path = root / group / name / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


print("\n== CPU per event (median of this run)")
for n in (1, 100):
    gateway = median_ns(f"ingest_{n}", "gateway") / n
    floor = median_ns(f"ingest_{n}", "floor") / n
    print(f"ingest, {n:>3}-event POST: gateway {gateway / 1000:8.2} us/event   "
          f"floor (1 HMAC + 1 parse) {floor / 1000:8.2} us/event   ratio {gateway / floor:5.2}x")
for fmt in ("meta", "envelope"):
    print(f"forward, {fmt:<8} format: {median_ns('forward', fmt) / 1000:8.2} us/delivery (format + both signatures)")
