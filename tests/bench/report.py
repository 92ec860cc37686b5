#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Helpers of tests/bench/overhead.sh (python3 stdlib only).

    report.py bpf PID FILE         save run_time_ns and run_cnt of every BPF program on the
                                   host (bpftool prog show -j) and the ids of those PID holds
                                   (from /proc/PID/fdinfo; PID 0: none) to FILE
    report.py bpfdelta A B         "ns=N cnt=N other_cnt=N" between two saved samples: summed
                                   over the programs PID held at B, and over every other
                                   program present in both (a disturbance indicator)
    report.py spans STATS PORT     "total=N server=N client=N": the collector's running totals
                                   (all spans, SERVER spans with server.port PORT, CLIENT spans)
    report.py summary RESULTS [--check]
                                   the tables and the issue-9 targets; --check: exit 1 on a miss

RESULTS has one line per run, "key=value" pairs separated by spaces (see overhead.sh).
"""
import json
import os
import subprocess
import sys
from collections import OrderedDict, defaultdict

MODES = ("off", "floor", "lookup", "ports", "all")
MODE_TEXT = {
    "off": "no agent",
    "floor": "floor: empty programs",
    "lookup": "floor: one lookup each",
    "ports": "agent, filters.ports",
    "all": "agent, every process",
}
AGENT_MODES = ("ports", "all")
TOOL_MODES = ("floor", "lookup", "ports", "all")
# Spans a request gives when every one is exported: the server's, plus the
# load generator's client span when every process is traced.
SPANS_PER_REQUEST = {"ports": 1, "all": 2}
# Traced sides of a request (for "BPF above the lookup floor on each traced side").
TRACED_SIDES = {"ports": 1, "all": 2}


# ---------------------------------------------------------------- samples

def prog_ids_of(pid):
    """Ids of the BPF programs process pid holds a file descriptor to."""
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return ids
    for n in names:
        try:
            with open(os.path.join(d, n)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return ids


def cmd_bpf(pid, path):
    ids = prog_ids_of(pid) if pid > 0 else set()
    try:
        out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True,
                             timeout=30).stdout
        progs = json.loads(out or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        progs = []
    sample = {"ours": sorted(ids),
              "progs": {str(p["id"]): [p.get("run_time_ns", 0), p.get("run_cnt", 0)]
                        for p in progs if "id" in p}}
    with open(path, "w") as f:
        json.dump(sample, f)


def cmd_bpfdelta(a_path, b_path):
    with open(a_path) as f:
        a = json.load(f)
    with open(b_path) as f:
        b = json.load(f)
    ours = {str(i) for i in b["ours"]}
    ns = cnt = other = 0
    for pid, (bns, bcnt) in b["progs"].items():
        if pid not in a["progs"]:
            continue
        ans, acnt = a["progs"][pid]
        if pid in ours:
            ns += bns - ans
            cnt += bcnt - acnt
        else:
            other += bcnt - acnt
    print("ns=%d cnt=%d other_cnt=%d" % (ns, cnt, other))


def cmd_spans(stats, port):
    try:
        with open(stats) as f:
            st = json.load(f)
    except (OSError, ValueError):
        st = {}
    print("total=%d server=%d client=%d" % (
        st.get("spans", 0), st.get("server_spans_by_port", {}).get(port, 0),
        st.get("spans_by_kind", {}).get("3", 0)))


# ---------------------------------------------------------------- summary

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = {}
            for kv in line.split():
                k, _, v = kv.partition("=")
                n = num(v)
                r[k] = n if n is not None else v
            runs.append(r)
    return runs


def fmt(v, spec="%.2f", none="-"):
    return none if v is None else spec % v


def div(a, b):
    return a / b if a is not None and b else None


class ModeStats:
    """The runs of one mode against one server."""

    def __init__(self, runs):
        self.runs = runs
        self.by_round = {int(r["round"]): r for r in runs}

    def total(self, key):
        vals = [r.get(key) for r in self.runs]
        if any(not isinstance(v, float) for v in vals):
            return None
        return sum(vals)

    def rps(self):
        return sum(r["rps"] for r in self.runs) / len(self.runs)

    def max(self, key):
        vals = [r.get(key) for r in self.runs if isinstance(r.get(key), float)]
        return max(vals) if vals else None


def summarize(path, check):
    runs = load(path)
    servers = OrderedDict()
    for r in runs:
        servers.setdefault(r["server"], defaultdict(list))[r["mode"]].append(r)
    missed_any = False
    for server, modes in servers.items():
        missed_any |= summarize_server(server, {m: ModeStats(rs) for m, rs in modes.items()})
    if check and missed_any:
        print("\n--check: a target was missed")
        return 1
    return 0


def summarize_server(server, m):
    first = next(iter(m.values())).runs[0]
    print("\n=== %s: wrk -t%d -c%d, %d s runs, %d rounds, URL %s" % (
        server, first["threads"], first["connections"], first["duration"],
        max(len(s.runs) for s in m.values()), first["url"]))
    off = m.get("off")
    off_rps = off.rps() if off else None
    ratio = {}
    for mode in MODES:
        if mode in m and off_rps:
            ratio[mode] = m[mode].rps() / off_rps

    # Throughput.
    print("%-24s %10s %7s  %-28s %6s" % ("mode", "req/s", "÷ off", "÷ off per round", "idle"))
    for mode in MODES:
        if mode not in m:
            continue
        s = m[mode]
        per_round = []
        for rnd in sorted(s.by_round):
            o = off.by_round.get(rnd) if off else None
            per_round.append(fmt(div(s.by_round[rnd]["rps"], o["rps"] if o else None), "%.3f"))
        idle = [r.get("idle") for r in s.runs if isinstance(r.get("idle"), float)]
        print("%-24s %10.0f %7s  %-28s %5s%%" % (
            MODE_TEXT[mode], s.rps(), fmt(ratio.get(mode), "%.3f"), " ".join(per_round),
            fmt(sum(idle) / len(idle) * 100 if idle else None, "%.1f")))
    for mode in AGENT_MODES:
        if mode not in ratio:
            continue
        for fl in ("floor", "lookup"):
            if fl in ratio:
                print("  %s vs %s: %+.3f of off's throughput (agent ÷ floor %.3f)" % (
                    MODE_TEXT[mode], MODE_TEXT[fl], ratio[mode] - ratio[fl],
                    ratio[mode] / ratio[fl]))

    # Costs.
    print("\n%-24s %8s %8s %8s %9s %9s %8s %8s %7s %8s %9s %8s" % (
        "mode", "BPF ns", "runs", "ns/run", "records", "spans", "server", "µs CPU", "lost",
        "peak RSS", "sink µs", "others'"))
    print("%-24s %8s %8s %8s %9s %9s %8s %8s %7s %8s %9s %8s" % (
        "", "/req", "/req", "", "/req", "/req", "sp./req", "/span", "", "MiB", "CPU/req",
        "runs/req"))
    derived = {}
    for mode in MODES:
        if mode not in m:
            continue
        s = m[mode]
        req = s.total("requests")
        d = derived[mode] = {
            "bpf_ns": div(s.total("bpf_ns"), req) if mode in TOOL_MODES else None,
            "bpf_runs": div(s.total("bpf_cnt"), req) if mode in TOOL_MODES else None,
            "records": div(s.total("events_read"), req) if mode in AGENT_MODES else None,
            "spans": div(s.total("spans"), req) if mode in AGENT_MODES else None,
            "server_spans": div(s.total("server_spans"), req) if mode in AGENT_MODES else None,
            "client_spans": div(s.total("client_spans"), req) if mode in AGENT_MODES else None,
            "cpu_us_span": (div(s.total("tool_ticks") / first["hz"] * 1e6, s.total("spans"))
                            if mode in AGENT_MODES and s.total("tool_ticks") is not None else None),
            "lost": s.total("events_lost") if mode in AGENT_MODES else None,
            "rss": div(s.max("hwm_kib"), 1024) if mode in TOOL_MODES else None,
            "sink": (div(s.total("sink_ticks") / first["hz"] * 1e6, req)
                     if s.total("sink_ticks") is not None else None),
            "other_runs": div(s.total("other_cnt"), req),
        }
        print("%-24s %8s %8s %8s %9s %9s %8s %8s %7s %8s %9s %8s" % (
            MODE_TEXT[mode], fmt(d["bpf_ns"], "%.0f"), fmt(d["bpf_runs"], "%.2f"),
            fmt(div(d["bpf_ns"], d["bpf_runs"]), "%.0f"), fmt(d["records"], "%.2f"),
            fmt(d["spans"], "%.4f"), fmt(d["server_spans"], "%.4f"),
            fmt(d["cpu_us_span"], "%.2f"), fmt(d["lost"], "%.0f"), fmt(d["rss"], "%.1f"),
            fmt(d["sink"], "%.2f"), fmt(d["other_runs"], "%.2f")))
    for mode in AGENT_MODES:
        if mode in derived and "lookup" in derived and derived[mode]["bpf_ns"] is not None:
            above = derived[mode]["bpf_ns"] - derived["lookup"]["bpf_ns"]
            print("  BPF %s above the lookup floor: %.0f ns a request (%d traced side%s: %.0f ns "
                  "a side)" % (MODE_TEXT[mode], above, TRACED_SIDES[mode],
                               "s" if TRACED_SIDES[mode] > 1 else "",
                               above / TRACED_SIDES[mode]))
    problems = []
    for mode in m:
        for r in m[mode].runs:
            if r.get("non2xx", 0) or r.get("errors", 0):
                problems.append("%s round %d: %d non-2xx, %d socket errors" % (
                    mode, r["round"], r.get("non2xx", 0), r.get("errors", 0)))
            if mode in AGENT_MODES and r.get("agent_rc", 0):
                problems.append("%s round %d: agent exit status %d" % (
                    mode, r["round"], r["agent_rc"]))
    other = max((d["other_runs"] or 0) for d in derived.values())
    if other > 0.05:
        problems.append("other BPF programs on the host ran up to %.2f times a request "
                        "(column others'): another agent or tracer was running, figures are "
                        "disturbed" % other)
    for p in problems:
        print("  warning: " + p)
    return targets(server, ratio, derived)


def targets(server, ratio, d):
    """Print issue 9's targets for this server; returns True when one is missed."""
    rows = []

    def want(name, value, ok, shown):
        rows.append((name, shown if value is not None else "not measured",
                     None if value is None else ok))

    def exported(mode):
        if mode not in d:
            return
        need = SPANS_PER_REQUEST[mode]
        v = d[mode]["spans"]
        want("%s: spans exported ÷ (%d × requests) = 100 %%" % (mode, need), v,
             v is not None and v >= need * 0.9999 and (d[mode]["server_spans"] or 0) >= 0.9999,
             "%.2f %% (server spans %.2f %%)" % (100 * (v or 0) / need,
                                                 100 * (d[mode]["server_spans"] or 0)))
        want("%s: records lost = 0" % mode, d[mode]["lost"], d[mode]["lost"] == 0,
             fmt(d[mode]["lost"], "%.0f"))

    if server == "nginx":
        want("ports: throughput ÷ off ≥ 0.85", ratio.get("ports"),
             (ratio.get("ports") or 0) >= 0.85, fmt(ratio.get("ports"), "%.3f"))
        want("all: throughput ÷ off ≥ 0.80", ratio.get("all"),
             (ratio.get("all") or 0) >= 0.80, fmt(ratio.get("all"), "%.3f"))
        for mode in AGENT_MODES:
            if mode in d and "lookup" in d and d[mode]["bpf_ns"] is not None and \
                    d["lookup"]["bpf_ns"] is not None:
                side = (d[mode]["bpf_ns"] - d["lookup"]["bpf_ns"]) / TRACED_SIDES[mode]
                want("%s: BPF above the lookup floor ≤ 400 ns a request a traced side" % mode,
                     side, side <= 400, "%.0f ns" % side)
            else:
                want("%s: BPF above the lookup floor ≤ 400 ns a request a traced side" % mode,
                     None, False, "")
            v = d.get(mode, {}).get("cpu_us_span")
            want("%s: agent CPU ≤ 1.2 µs a span" % mode, v, v is not None and v <= 1.2,
                 fmt(v, "%.2f µs"))
            exported(mode)
            v = d.get(mode, {}).get("rss")
            want("%s: agent peak RSS ≤ 24 MiB" % mode, v, v is not None and v <= 24,
                 fmt(v, "%.1f MiB"))
    elif server in ("node", "python"):
        want("ports: throughput ÷ off ≥ 0.95", ratio.get("ports"),
             (ratio.get("ports") or 0) >= 0.95, fmt(ratio.get("ports"), "%.3f"))
        for mode in AGENT_MODES:
            exported(mode)
    if not rows:
        print("\nissue-9 targets (%s): none for this server (report only)" % server)
        return False
    print("\nissue-9 targets (%s):" % server)
    missed = False
    for name, shown, ok in rows:
        state = "not measured" if ok is None else ("met" if ok else "MISSED")
        if ok is not True:
            missed = True
        print("  %-64s %-24s %s" % (name, shown, state))
    return missed


def main(argv):
    if len(argv) == 3 and argv[0] == "bpf":
        cmd_bpf(int(argv[1]), argv[2])
        return 0
    if len(argv) == 3 and argv[0] == "bpfdelta":
        cmd_bpfdelta(argv[1], argv[2])
        return 0
    if len(argv) == 3 and argv[0] == "spans":
        cmd_spans(argv[1], argv[2])
        return 0
    if len(argv) >= 2 and argv[0] == "summary":
        return summarize(argv[1], "--check" in argv[2:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
