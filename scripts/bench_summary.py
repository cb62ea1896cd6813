#!/usr/bin/env python3
"""Summarizes a directory of `kassa bench` JSON reports as the Markdown tables of BENCHMARKS.md."""

import glob
import json
import os
import sys

directory = sys.argv[1] if len(sys.argv) > 1 else "bench-results"
runs = []
for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
    with open(path) as f:
        report = json.load(f)
    for run in report if isinstance(report, list) else [report]:
        run["file"] = os.path.basename(path)
        runs.append(run)


def ms(us):
    return f"{us / 1000:.2f}"


def row(run):
    r = run["result"]
    lat = r["latency_us"]
    books = run.get("books")
    ok = "-" if books is None else ("ok" if books["ok"] else "**FAILED**")
    statuses = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
    # Reports from before the harness measured CPU have no such field.
    cpu = run.get("cpu_us_per_request") or {}
    server_cpu = "-" if cpu.get("server") is None else cpu["server"]
    load_cpu = "-" if cpu.get("load_generator") is None else cpu["load_generator"]
    return (f"| {run['store']} | {run['scenario']} | {run['mode']} | {run['concurrency']} | {run['orders_in_table']:,} "
            f"| {r['throughput']:,.0f} | {ms(lat['p50'])} | {ms(lat['p90'])} | {ms(lat['p99'])} | {ms(lat['p999'])} "
            f"| {ms(lat['max'])} | {run['server_rss_mib']['high_water_mark']} | {server_cpu} | {load_cpu} | {ok} "
            f"| {statuses} |")


print("| store | scenario | loop | clients | orders in table | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
      "| server RSS MiB | server CPU µs/req | load generator CPU µs/req | books | statuses |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for run in runs:
    print(row(run))
for run in runs:
    if run.get("pgbench"):
        p = run["pgbench"]
        print(f"\npgbench -b tpcb-like, {p['clients']} clients, scale {p['scale']}, {p['seconds']} s "
              f"(fsync={p['fsync']}, synchronous_commit={p['synchronous_commit']}): **{p['tps']:,.0f} tps**; "
              f"kassa {run['scenario']} in the same run: **{run['result']['throughput']:,.0f} orders/s** "
              f"({run['result']['throughput'] / p['tps']:.2f}x)")
