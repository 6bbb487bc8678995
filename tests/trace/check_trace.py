#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs a program with VSCHED_TRACE and checks the trace it writes.

usage: check_trace.py PROGRAM [EVENTS]

The file must parse as Chrome trace-event JSON, with a lane (thread_name)
per CPU and one for the outside, and agree with the statistics written
into it at stop ("otherData"): per CPU, as many switch spans as the core
counted switches (and their "switches" arguments add up to it); as many
spawn instants as tasks spawned, and as many wake instants as wake-ups
counted. Every task blocked as often as it was woken (each wake ends one
block, and every task is done by stop), every spawned task exited, spans
on a lane do not overlap. With EVENTS (VSCHED_TRACE_EVENTS) small, the
rings overflow: the file still parses, says how much it dropped, and keeps
the newest events.
"""
import collections
import json
import os
import subprocess
import sys
import tempfile


def fail(msg):
    print("check_trace: " + msg)
    sys.exit(1)


def main():
    prog = sys.argv[1]
    small = len(sys.argv) > 2
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        env = dict(os.environ, VSCHED_TRACE=path)
        if small:
            env["VSCHED_TRACE_EVENTS"] = sys.argv[2]
        r = subprocess.run([prog], env=env, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            fail("%s exited %d: %s" % (prog, r.returncode, r.stderr[-2000:]))
        with open(path) as f:
            doc = json.load(f)
    ev = doc["traceEvents"]
    other = doc["otherData"]
    ncpus = len(other["switches"])
    lanes = {e["tid"]: e["args"]["name"] for e in ev
             if e["ph"] == "M" and e["name"] == "thread_name"}
    want = {i: "CPU %d" % i for i in range(ncpus)}
    want[ncpus] = "outside"
    if lanes != want:
        fail("lanes %r, not %r" % (lanes, want))
    for e in ev:
        if e["ph"] in ("X", "i") and (e["ts"] < 0 or e.get("dur", 0) < 0):
            fail("a negative time: %r" % e)
    # spans on a lane follow one another
    last_end = collections.defaultdict(float)
    for e in ev:
        if e["ph"] != "X":
            continue
        if e["ts"] + 5e-4 < last_end[e["tid"]]:
            fail("spans overlap on lane %d at %.3f us" % (e["tid"], e["ts"]))
        last_end[e["tid"]] = e["ts"] + e["dur"]
    spans = collections.Counter()
    sw = collections.Counter()
    inst = collections.Counter()
    per_task = collections.defaultdict(collections.Counter)
    for e in ev:
        if e["ph"] == "X" and e["name"] != "parked":
            spans[e["tid"]] += 1
            sw[e["tid"]] += e["args"]["switches"]
        elif e["ph"] == "i":
            inst[e["name"]] += 1
            if e["name"] in ("block", "wake", "spawn", "exit"):
                per_task[e["args"]["task"]][e["name"]] += 1
    if small:
        if other["dropped"] == 0:
            fail("a ring of %s events dropped nothing" % sys.argv[2])
        if sum(spans.values()) == 0:
            fail("nothing kept")
        print("ok: %d dropped, %d spans kept" % (other["dropped"], sum(spans.values())))
        return
    if other["dropped"]:
        fail("%d events dropped" % other["dropped"])
    for c in range(ncpus):
        if spans[c] != other["switches"][c] or sw[c] != other["switches"][c]:
            fail("CPU %d: %d switch spans (%d switches) against %d counted"
                 % (c, spans[c], sw[c], other["switches"][c]))
    if inst["spawn"] != other["spawned"]:
        fail("%d spawns traced, %d counted" % (inst["spawn"], other["spawned"]))
    if inst["wake"] != other["wakes"]:
        fail("%d wakes traced, %d counted" % (inst["wake"], other["wakes"]))
    for t, c in per_task.items():
        if c["block"] != c["wake"]:
            fail("task %d blocked %d times, woken %d" % (t, c["block"], c["wake"]))
        if c["spawn"] != c["exit"]:
            fail("task %d: %d spawns, %d exits" % (t, c["spawn"], c["exit"]))
    print("ok: %s; %d spans, %d blocks, %d wakes, %d spawns"
          % (os.path.basename(prog), sum(spans.values()), inst["block"], inst["wake"],
             inst["spawn"]))


main()
