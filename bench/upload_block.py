#!/usr/bin/env python3
"""How long a 25 MiB upload blocks the event loop that reads it.

Starts `ssechat --threads 1` (one loop: the upload and the probe share it) on loopback, then
sends GET /healthz every millisecond on a kept-alive connection while another connection
uploads a file, and reports the probe's round trips: with the upload's hashing and writing
off the loop, the worst one stays near the idle ones. Bounded: UPLOADS uploads, one probe per
millisecond at most for their duration. Usage: upload_block.py BINARY [UPLOADS] [MIB]
"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

binary = sys.argv[1]
uploads = int(sys.argv[2]) if len(sys.argv) > 2 else 5
mib = int(sys.argv[3]) if len(sys.argv) > 3 else 25

data = tempfile.mkdtemp(prefix="ssechat-upload-bench-")
srv = subprocess.Popen([binary, "--port", "0", "--threads", "1", "--data", data,
                        "--upload-rate", "1000"], stdout=subprocess.PIPE, text=True)
line = srv.stdout.readline()
port = int(line.rsplit(":", 1)[1])


def probe(samples, stop):
    c = http.client.HTTPConnection("127.0.0.1", port)
    while not stop.is_set():
        a = time.perf_counter()
        c.request("GET", "/healthz")
        c.getresponse().read()
        samples.append((time.perf_counter() - a) * 1000)
        time.sleep(0.001)


def upload(body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/rooms/bench/files?name=big.bin&id=u", body,
              {"Content-Type": "application/octet-stream"})
    r = c.getresponse()
    r.read()
    assert r.status == 201, r.status


try:
    idle, busy = [], []
    stop = threading.Event()
    t = threading.Thread(target=probe, args=(idle, stop))
    t.start()
    time.sleep(2)
    stop.set()
    t.join()
    body = os.urandom(mib << 20)
    stop = threading.Event()
    t = threading.Thread(target=probe, args=(busy, stop))
    t.start()
    a = time.perf_counter()
    for _ in range(uploads):
        upload(body)
    took = time.perf_counter() - a
    stop.set()
    t.join()
    q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]
    print(json.dumps({"upload_mib": mib, "uploads": uploads, "seconds_per_upload": round(took / uploads, 3),
                      "idle_probe_ms": {"p50": round(statistics.median(idle), 3), "p99": round(q(idle, .99), 3),
                                        "max": round(max(idle), 3)},
                      "during_upload_probe_ms": {"n": len(busy), "p50": round(statistics.median(busy), 3),
                                                 "p99": round(q(busy, .99), 3), "max": round(max(busy), 3)}}))
finally:
    srv.terminate()
    srv.wait()
    subprocess.run(["rm", "-rf", data])
