#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""One whole, correct trace per request across Node.js, Go, Python and Java (issue 8).

Not a ctest yet (not named test_*.py): the lead renames it once the agent links
these runtimes.  Run it as root:

    python3 tests/integration/test_runtimes.py [--agent build/spanbpf] [-v] [--keep]

The chain (tests/integration/servers/chain/, all on 127.0.0.1):

    client -> front (Node.js http; http.get on the global keep-alive agent, or fetch)
           -> go (net/http; default http.Client from the handler, or from a goroutine)
           -> python (ThreadingHTTPServer; urllib, a connection per call)
           -> java (com.sun.net.httpserver + fixed thread pool; HttpURLConnection,
                    or HttpClient.send)
           -> leaf (ThreadingHTTPServer)

Every request is GET /r/<id>/n=<get|fetch>/g=<direct|goroutine>/j=<urlconn|httpclient>
and every tier calls the next with the same path, so each span carries its
request's id (url.path on server spans, url.full on client spans) and a wrong
parent is found by content, not by timing.  The agent runs with all five ports
in filters.ports (the test's own client is not traced).  Requests go first one
at a time, then from 8 concurrent clients; per request id the test expects 9
spans (a SERVER span in each tier, a CLIENT span for each of the 4 calls), and
checks every parent:
  * a SERVER span's parent must be the caller tier's CLIENT span of the same id
    (the front's SERVER span is a root: its client is not traced);
  * a CLIENT span's parent must be its own tier's SERVER span of the same id;
  * a parent that is another request's span, another tier's, another kind, in
    another trace, or not exported at all is WRONG.
A request is a whole trace when all 9 spans are there, once each, in one trace,
each with its right parent.  Printed at the end: linked / unlinked / wrong /
missing per tier and call style, sequential and concurrent (for the README's
"what is linked" table), and the agent's own unlinked_* counters.

Environment: SPANBPF_CHAIN_SEQ (requests one at a time, default 96),
SPANBPF_CHAIN_CONC (requests from concurrent clients, default 400),
SPANBPF_CHAIN_CLIENTS (concurrent clients, default 8).  Go is built with
Debian's golang-go (installed with apt-get under CI=true when missing), Java
compiled with javac (openjdk-17).
"""
import http.client
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402
from spanbpf_test import attr  # noqa: E402

CHAIN_DIR = T.HERE / "servers" / "chain"
N_SEQ = int(os.environ.get("SPANBPF_CHAIN_SEQ", "96"))
N_CONC = int(os.environ.get("SPANBPF_CHAIN_CONC", "400"))
CLIENTS = int(os.environ.get("SPANBPF_CHAIN_CLIENTS", "8"))
REQUEST_TIMEOUT = 30.0    # one request through the whole chain
PHASE_TIMEOUT = 600.0     # all requests of one phase
WHOLE_SHARE = 0.99        # issue 8: >= 99 % of requests give one whole trace
UNPROMISED = "httpclient" # a call style the README documents as unlinked (never wrong)

TIERS = ("front", "go", "python", "java", "leaf")
CALLERS = ("front", "go", "python", "java")
SERVER, CLIENT = "SERVER", "CLIENT"
KIND_NAME = {T.SPAN_KIND_SERVER: SERVER, T.SPAN_KIND_CLIENT: CLIENT}
# The roles a request's spans play, and the parent each must have (None: a root).
ROLES = [(t, SERVER) for t in TIERS] + [(t, CLIENT) for t in CALLERS]
EXPECTED_PARENT = {("front", SERVER): None}
for _i, _t in enumerate(CALLERS):
    EXPECTED_PARENT[(_t, CLIENT)] = (_t, SERVER)
    EXPECTED_PARENT[(TIERS[_i + 1], SERVER)] = (_t, CLIENT)
# Call styles, chosen per request by path segments; cycled so each combination is used.
STYLE_COMBOS = [(n, g, j) for n in ("get", "fetch") for g in ("direct", "goroutine")
                for j in ("urlconn", "httpclient")]
STYLE_TEXT = {
    "front": {"get": "Node.js http.get (global keep-alive agent)", "fetch": "Node.js fetch"},
    "go": {"direct": "Go http.Client from the handler",
           "goroutine": "Go http.Client from a goroutine of the handler"},
    "python": {"urllib": "Python ThreadingHTTPServer, urllib"},
    "java": {"urlconn": "Java thread pool, HttpURLConnection",
             "httpclient": "Java thread pool, HttpClient.send"},
}
RID_RE = re.compile(r"^/r/([A-Za-z0-9_-]{1,64})/")


def request_path(rid, i):
    n, g, j = STYLE_COMBOS[i % len(STYLE_COMBOS)]
    return "/r/%s/n=%s/g=%s/j=%s" % (rid, n, g, j)


def styles_of(path):
    segs = path.split("/")
    pick = lambda key, dflt: next((s.split("=", 1)[1] for s in segs if s.startswith(key + "=")), dflt)
    return {"front": pick("n", "get"), "go": pick("g", "direct"), "python": "urllib",
            "java": pick("j", "urlconn")}


def span_path(s):
    """The request path a span carries: url.path (server) or the path of url.full (client)."""
    p = attr(s, "url.path")
    if p:
        return p
    full = attr(s, "url.full")
    if full:
        return urllib.parse.urlsplit(full).path
    return ""


# ---------------------------------------------------------------- toolchains

def ensure_toolchains():
    """go, javac, java and node on PATH; under CI=true golang-go is installed when missing."""
    if not shutil.which("go") and T.in_ci() and os.geteuid() == 0:
        T.log("CI: apt-get install golang-go (Debian's Go toolchain, for the Go service)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for argv in (["apt-get", "update", "-q"],
                     ["apt-get", "install", "-y", "-q", "--no-install-recommends", "golang-go"]):
            r = subprocess.run(argv, env=env, timeout=400, capture_output=True, text=True)
            if r.returncode != 0:
                T.log("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr[-2000:]))
                break
    missing = [c for c in ("go", "javac", "java", "node") if not shutil.which(c)]
    if missing:
        T.requirement_missing("test_runtimes needs %s (apt-get install golang-go openjdk-17-jdk "
                              "nodejs)" % ", ".join(missing))


def build(bindir):
    """Build the Go service and compile the Java one into bindir."""
    env = T.clean_env({"GOCACHE": str(bindir / "gocache"), "GOPATH": str(bindir / "gopath"),
                       "GOPROXY": "off", "GOFLAGS": "", "CGO_ENABLED": "0"})
    r = subprocess.run(["go", "build", "-o", str(bindir / "gosvc"), str(CHAIN_DIR / "gosvc.go")],
                       cwd=bindir, env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("go build failed:\n" + r.stdout + r.stderr)
    r = subprocess.run(["javac", "-d", str(bindir), str(CHAIN_DIR / "JavaSvc.java")],
                       env=T.clean_env(), capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("javac failed:\n" + r.stdout + r.stderr)


class ChainServices:
    """The five services, started leaf first; pid_tier maps each serving PID to its tier."""

    def __init__(self):
        self.bindir = T.workdir("chain-bin")
        self.ports = {}
        self.procs = {}
        self.pid_tier = {}

    def start(self):
        build(self.bindir)
        used = set()
        for t in TIERS:
            p = T.free_port((T.socket.AF_INET,))
            while p in used:
                p = T.free_port((T.socket.AF_INET,))
            used.add(p)
            self.ports[t] = p
        nxt = lambda t: "http://127.0.0.1:%d" % self.ports[TIERS[TIERS.index(t) + 1]]
        argv = {
            "leaf": [sys.executable, "-u", CHAIN_DIR / "pysvc.py", "--port", self.ports["leaf"],
                     "--name", "leaf"],
            "java": ["java", "-cp", self.bindir, "JavaSvc", "--port",
                     self.ports["java"], "--next", nxt("java"), "--threads", "16"],
            "python": [sys.executable, "-u", CHAIN_DIR / "pysvc.py", "--port",
                       self.ports["python"], "--next", nxt("python")],
            "go": [self.bindir / "gosvc", "-port", self.ports["go"], "-next", nxt("go")],
            "front": [shutil.which("node"), CHAIN_DIR / "front.js", "--port", self.ports["front"],
                      "--next", nxt("front")],
        }
        for t in reversed(TIERS):
            err = open(self.bindir / ("%s.stderr" % t), "wb")
            p = T.spawn(argv[t], "chain-" + t, stdout=subprocess.PIPE, stderr=err, env=T.clean_env())
            info = T.read_json_line(p, 60, "chain service " + t)
            self.procs[t] = p
            self.pid_tier[int(info["pid"])] = t
        return self

    def stop(self):
        for t in TIERS:
            if t in self.procs:
                T.stop_process(self.procs[t])


# ---------------------------------------------------------------- driving

def drive(port, paths, clients):
    """GET every path on the front from `clients` threads (keep-alive connections);
    returns {path: (status, body)}; bounded by REQUEST_TIMEOUT a request and PHASE_TIMEOUT."""
    todo = list(paths)
    lock = threading.Lock()
    results = {}
    deadline = time.monotonic() + PHASE_TIMEOUT

    def worker():
        conn = None
        while time.monotonic() < deadline:
            with lock:
                if not todo:
                    break
                path = todo.pop(0)
            for attempt in range(2):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
                    conn.request("GET", path)
                    r = conn.getresponse()
                    results[path] = (r.status, r.read().decode(errors="replace"))
                    break
                except (OSError, http.client.HTTPException) as e:
                    results[path] = (0, "client error: %s" % e)
                    if conn is not None:
                        conn.close()
                    conn = None
                    if attempt:
                        break
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic()))
    return results


# ---------------------------------------------------------------- analysis

class Phase:
    """What the spans of one phase's requests say, per request id."""

    def __init__(self, name, rids, paths):
        self.name, self.rids, self.paths = name, rids, paths
        self.answers = {}
        self.missing = {}     # rid -> [role]
        self.dups = {}        # rid -> [role]
        self.wrong = []       # (rid, role, why)
        self.unlinked = {}    # rid -> [role]
        self.whole = set()
        self.rows = {}        # (row text) -> {"linked","unlinked","wrong","missing"}
        self.spans = 0

    def row(self, text):
        return self.rows.setdefault(text, {"linked": 0, "unlinked": 0, "wrong": 0, "missing": 0})


def link_row(role, styles):
    """The table row a role's link belongs to: in-process calls by style, hops by caller
    style.  Rows sort in chain order: a tier's call, then the hop to the next tier."""
    tier, kind = role
    if kind == CLIENT:
        return "%d in  %-6s %s" % (2 * TIERS.index(tier), tier, STYLE_TEXT[tier][styles[tier]])
    caller = TIERS[TIERS.index(tier) - 1]
    return "%d hop %-6s -> %-6s after %s" % (2 * TIERS.index(caller) + 1, caller, tier,
                                             STYLE_TEXT[caller][styles[caller]])


def analyse(phase, spans, pid_tier):
    by_id = {s["span_id"]: s for s in spans}
    info = {}        # span_id -> (rid, role)
    per_rid = {rid: {} for rid in phase.rids}
    for s in spans:
        m = RID_RE.match(span_path(s))
        kind = KIND_NAME.get(s.get("kind"))
        tier = pid_tier.get(s.get("resource", {}).get("process.pid"))
        if not m or kind is None or tier is None:
            continue
        rid, role = m.group(1), (tier, kind)
        info[s["span_id"]] = (rid, role)
        if rid in per_rid:
            per_rid[rid].setdefault(role, []).append(s)
            phase.spans += 1
    for rid in phase.rids:
        got = per_rid[rid]
        styles = styles_of(phase.paths[rid])
        whole = True
        traces = set()
        for role in ROLES:
            row = phase.row(link_row(role, styles)) if EXPECTED_PARENT[role] else None
            found = got.get(role, [])
            if not found:
                phase.missing.setdefault(rid, []).append(role)
                whole = False
                if row:
                    row["missing"] += 1
                continue
            if len(found) > 1:
                phase.dups.setdefault(rid, []).append(role)
                whole = False
            for s in found:
                traces.add(s["trace_id"])
                verdict, why = judge(s, role, rid, by_id, info)
                if verdict == "wrong" and why.startswith("parent ") and \
                        why.endswith("never exported") and not got.get(EXPECTED_PARENT[role]):
                    # Its right parent is missing too: maybe that one, not a wrong link.
                    verdict = "missing"
                    whole = False
                if verdict == "wrong":
                    phase.wrong.append((rid, role, why))
                    whole = False
                elif verdict == "unlinked":
                    phase.unlinked.setdefault(rid, []).append(role)
                    whole = False
                if row:
                    row[verdict] += 1
                elif verdict == "wrong":
                    # The front's SERVER span has a parent: no row, but it counts as wrong.
                    phase.row("9 root  front SERVER span (must have no parent)")["wrong"] += 1
        if len(traces) > 1:
            whole = False
        if whole:
            phase.whole.add(rid)


def judge(s, role, rid, by_id, info):
    """("linked" | "unlinked" | "wrong" | "root", why) for span s playing role in request rid."""
    want = EXPECTED_PARENT[role]
    parent_id = s.get("parent_span_id") or ""
    if not parent_id or parent_id == "0" * 16:
        return ("root" if want is None else "unlinked"), ""
    if want is None:
        return "wrong", "a root span has parent %s" % parent_id
    p = by_id.get(parent_id)
    if p is None:
        return "wrong", "parent %s was never exported" % parent_id
    prid, prole = info.get(parent_id, (None, None))
    if prid != rid or prole != want:
        return "wrong", "parent is %s of request %s (want %s of %s): %s" % (
            prole, prid, want, rid, span_path(p))
    if p["trace_id"] != s["trace_id"]:
        return "wrong", "parent in trace %s, span in %s" % (p["trace_id"], s["trace_id"])
    return "linked", ""


# ---------------------------------------------------------------- the test

class ChainRuntimes(T.SpanTestCase):
    phases = {}

    @classmethod
    def setUpClass(cls):
        cls.services = ChainServices().start()
        cls.collector = T.Collector("chain-collector").start()
        cfg = T.agent_config(cls.collector, ports=[cls.services.ports[t] for t in TIERS])
        cls.agent = T.Agent(cfg, name="chain-agent").start()
        front = cls.services.ports["front"]
        # Warm-up (JIT, connection pools); its ids are not analysed.
        drive(front, [request_path("w%03d" % i, i) for i in range(len(STYLE_COMBOS))], 1)
        for name, n, clients in (("sequential", N_SEQ, 1), ("concurrent", N_CONC, CLIENTS)):
            prefix = name[0]
            rids = ["%s%04d" % (prefix, i) for i in range(n)]
            paths = {rid: request_path(rid, i) for i, rid in enumerate(rids)}
            phase = Phase(name, rids, paths)
            t0 = time.monotonic()
            answers = drive(front, [paths[r] for r in rids], clients)
            phase.seconds = time.monotonic() - t0
            phase.answers = {rid: answers.get(paths[rid], (0, "not sent")) for rid in rids}
            cls.phases[name] = phase
            T.log("%s: %d requests from %d client(s) in %.1fs" % (name, n, clients, phase.seconds))
        # Every span of both phases, once no new one arrives.
        want = len(ROLES) * (N_SEQ + N_CONC)
        ours = lambda s: RID_RE.match(span_path(s)) is not None and \
            RID_RE.match(span_path(s)).group(1)[0] in "sc"
        T.wait_until(lambda: len([s for s in cls.collector.spans() if ours(s)]) >= want,
                     T.SPAN_TIMEOUT + 10, interval=0.2)
        cls.collector.settle(ours)
        spans = cls.collector.spans()
        for phase in cls.phases.values():
            analyse(phase, spans, cls.services.pid_tier)

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        cls.services.stop()
        cls.collector.stop()
        print_table(cls.phases, cls.agent)
        assert code == 0, "agent exit code %r\n%s" % (code, cls.agent.tail())

    # -- assertions ----------------------------------------------------------

    def check_answers(self, phase):
        bad = {rid: a for rid, a in phase.answers.items()
               if a[0] != 200 or a[1] != ";".join("%s:%s" % (t, rid) for t in TIERS)}
        self.assertFalse(bad, "%d of %d requests did not go through the whole chain, e.g. %s" % (
            len(bad), len(phase.rids), list(bad.items())[:5]))

    def check_exported(self, phase):
        self.check_answers(phase)
        problems = ["%s: missing %s" % (rid, roles) for rid, roles in phase.missing.items()]
        problems += ["%s: more than one %s" % (rid, roles) for rid, roles in phase.dups.items()]
        self.assertFalse(problems, "%s: %d spans of %d expected; %d requests incomplete:\n  %s" % (
            phase.name, phase.spans, len(ROLES) * len(phase.rids), len(problems),
            "\n  ".join(problems[:30])))

    def check_no_wrong(self, phase):
        self.assertFalse(phase.wrong, "%s: %d wrong parents:\n  %s" % (
            phase.name, len(phase.wrong), "\n  ".join(
                "%s %s: %s" % (rid, role, why) for rid, role, why in phase.wrong[:30])))

    def check_whole(self, phase):
        # Java's HttpClient.send writes from the client's own selector thread, which serves
        # no request: those calls are documented as unlinked (README), counted apart here.
        promised = [r for r in phase.rids if styles_of(phase.paths[r])["java"] != UNPROMISED]
        whole = [r for r in promised if r in phase.whole]
        rest = [r for r in phase.rids if r not in promised]
        T.log("%s: %d of %d requests with %s whole" % (
            phase.name, len([r for r in rest if r in phase.whole]), len(rest), UNPROMISED))
        share = len(whole) / max(1, len(promised))
        self.assertGreaterEqual(share, WHOLE_SHARE, "%s: %d of %d requests (%.1f %%) are one whole "
                                "trace (want >= %.0f %%)" % (phase.name, len(whole),
                                                             len(promised), 100 * share,
                                                             100 * WHOLE_SHARE))

    def test_1_sequential_every_span_exported(self):
        self.check_exported(self.phases["sequential"])

    def test_2_sequential_no_wrong_links(self):
        self.check_no_wrong(self.phases["sequential"])

    def test_3_concurrent_every_span_exported(self):
        self.check_exported(self.phases["concurrent"])

    def test_4_concurrent_no_wrong_links(self):
        self.check_no_wrong(self.phases["concurrent"])

    def test_5_sequential_whole_traces(self):
        self.check_whole(self.phases["sequential"])

    def test_6_concurrent_whole_traces(self):
        self.check_whole(self.phases["concurrent"])


def print_table(phases, agent):
    names = [n for n in ("sequential", "concurrent") if n in phases]
    if not names:
        return
    print("\n# test_runtimes: links per tier and call style (linked / unlinked / wrong / missing)")
    head = "%-72s" % "link"
    for n in names:
        head += " | %-23s" % ("%s (%d req)" % (n, len(phases[n].rids)))
    print("# " + head)
    rows = sorted(set(r for n in names for r in phases[n].rows))
    for r in rows:
        line = "%-72s" % r.split(" ", 1)[1]
        for n in names:
            c = phases[n].rows.get(r)
            line += " | %-23s" % ("-" if c is None else "%d / %d / %d / %d" % (
                c["linked"], c["unlinked"], c["wrong"], c["missing"]))
        print("# " + line)
    for n in names:
        p = phases[n]
        print("# %s: %d of %d requests whole traces (%.1f %%), %d wrong parents, %d of %d spans, "
              "%.1fs" % (n, len(p.whole), len(p.rids), 100 * len(p.whole) / max(1, len(p.rids)),
                         len(p.wrong), p.spans, len(ROLES) * len(p.rids), p.seconds))
        why = {}
        for roles in p.unlinked.values():
            for role in roles:
                why["%s %s unlinked" % role] = why.get("%s %s unlinked" % role, 0) + 1
        for roles in p.missing.values():
            for role in roles:
                why["%s %s missing" % role] = why.get("%s %s missing" % role, 0) + 1
        if why:
            print("#   requests not whole because: " + ", ".join(
                "%s in %d" % (k, v) for k, v in sorted(why.items(), key=lambda kv: -kv[1])))
    final = [l for l in agent.stderr().split("\n") if " final: " in l]
    if final:
        fields = re.findall(r"\b((?:links|unlinked|client_spans_unlinked|events_lost)\w*=\d+)",
                            final[-1])
        print("# agent: " + " ".join(fields))


if __name__ == "__main__":
    ensure_toolchains()
    T.main([ChainRuntimes], needs_root=True)
