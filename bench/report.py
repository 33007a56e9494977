#!/usr/bin/env python3
"""Summarizes bench/out/results.jsonl: a table per scenario with medians and the ssechat/Nchan
ratio, and a gnuplot PNG of p99 latency against publish rate for both servers."""
import json, os, statistics, subprocess, sys
from collections import defaultdict

path, out = sys.argv[1], sys.argv[2]
runs = defaultdict(list)
for line in open(path):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        if "/" not in r["label"]:
            continue  # a helper run (prefill), not a scenario
        # Server CPU per acknowledged publish, edit or reaction, whatever it fanned out to.
        if r.get("acked"):
            r["server_cpu_us_per_publish"] = r.get("server_cpu_s", 0) * 1e6 / r["acked"]
        server, scenario = r["label"].split("/", 1)
        runs[(scenario, server)].append(r)

def med(scenario, server, key):
    vals = [r[key] for r in runs.get((scenario, server), []) if key in r]
    return statistics.median(vals) if vals else None

keys = [("deliveries_per_s", "deliveries/s"), ("server_cpu_us_per_delivery", "CPU us/delivery"),
        ("server_cpu_us_per_publish", "CPU us/publish"),
        ("lat_p50_us", "p50 us"), ("lat_p99_us", "p99 us"), ("publishes_per_s", "acked pub/s"),
        ("server_rss_bytes_per_idle_stream", "RSS B/stream"), ("missing", "missing"),
        ("duplicates", "dups"), ("subscribers", "streams")]
scenarios = sorted({s for s, _ in runs})
print("| scenario | metric | ssechat | nchan | ssechat/nchan |")
print("|---|---|---|---|---|")
for sc in scenarios:
    for key, name in keys:
        a, b = med(sc, "ssechat", key), med(sc, "nchan", key)
        if a is None and b is None:
            continue
        if not a and not b:
            continue
        ratio = f"{a / b:.2f}" if a is not None and b else ""
        fa = f"{a:.3f}" if isinstance(a, float) and a < 100 else (f"{a:.0f}" if a is not None else "")
        fb = f"{b:.3f}" if isinstance(b, float) and b < 100 else (f"{b:.0f}" if b is not None else "")
        n = len(runs.get((sc, "ssechat"), [])) or len(runs.get((sc, "nchan"), []))
        print(f"| {sc}{' (median of %d)' % n if n > 1 else ''} | {name} | {fa} | {fb} | {ratio} |")

# Cluster: the same load on one SQLite node, one Redis-backed node and two of them.
cl = ["cluster-sqlite1", "cluster-redis1", "cluster-redis2"]
cl_scenarios = sorted({s for s, srv in runs if srv in cl})
if cl_scenarios:
    print("\n| cluster scenario | metric | sqlite, 1 node | redis, 1 node | redis, 2 nodes | 2 nodes / 1 |")
    print("|---|---|---|---|---|---|")
    for sc in cl_scenarios:
        for key, name in keys:
            vals = [med(sc, srv, key) for srv in cl]
            if not any(vals):
                continue
            fmt = lambda v: "" if v is None else (f"{v:.3f}" if isinstance(v, float) and v < 100 else f"{v:.0f}")
            ratio = f"{vals[2] / vals[1]:.2f}" if vals[1] and vals[2] is not None else ""
            n = len(runs.get((sc, cl[1]), []))
            print(f"| {sc}{' (median of %d)' % n if n > 1 else ''} | {name} | " +
                  " | ".join(fmt(v) for v in vals) + f" | {ratio} |")

# Latency against rate.
dat = os.path.join(out, "latency.dat")
with open(dat, "w") as f:
    f.write("# rate ssechat_p50 ssechat_p99 nchan_p50 nchan_p99 (ms)\n")
    rates = sorted({int(s.split("@")[1]) for s, _ in runs if s.startswith("latency@")})
    for rate in rates:
        sc = f"latency@{rate}"
        vals = [med(sc, srv, k) for srv in ("ssechat", "nchan") for k in ("lat_p50_us", "lat_p99_us")]
        f.write(f"{rate} " + " ".join("nan" if v is None else f"{v / 1000:.3f}" for v in vals) + "\n")
png = os.path.join(out, "latency.png")
script = f"""
set terminal pngcairo size 800,480
set output '{png}'
set title 'Publish-to-receive latency, 1,000 subscribers, one server core'
set xlabel 'publish rate (messages/s)'
set ylabel 'latency (ms)'
set logscale xy
set key top left
set grid
plot '{dat}' using 1:3 with linespoints title 'ssechat p99', \\
     '{dat}' using 1:2 with linespoints title 'ssechat p50', \\
     '{dat}' using 1:5 with linespoints title 'nchan p99', \\
     '{dat}' using 1:4 with linespoints title 'nchan p50'
"""
try:
    subprocess.run(["gnuplot"], input=script.encode(), check=True)
    print(f"\nplot: {png}")
except Exception as e:  # the table is the result; the plot is a view of it
    print(f"\nno plot: {e}")
