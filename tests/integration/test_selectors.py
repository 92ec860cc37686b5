#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""filters.exclude_ports, filters.processes, filters.exclude_processes, and their combination
with filters.ports: a process is traced when it matches every selector that is set and no
exclusion.  curl (the client) and Python servers are the processes told apart."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402
from spanbpf_test import attr  # noqa: E402


def pid_of(s):
    return s["resource"].get("process.pid")


class Selectors(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.s1 = T.PyServer(name="sel-s1").start()
        cls.s2 = T.PyServer(name="sel-s2").start()

    @classmethod
    def tearDownClass(cls):
        cls.s1.stop()
        cls.s2.stop()

    def with_agent(self, name, filters, body):
        collector = T.Collector(name + "-collector").start()
        cfg = T.agent_config(collector)
        cfg["filters"] = filters
        agent = T.Agent(cfg, name=name + "-agent").start()
        try:
            body(collector)
        finally:
            code = agent.stop()
            collector.stop()
        self.assertEqual(code, 0, agent.tail())

    def curl_both(self, tag):
        T.curl(self.s1.url("/ok/%s-1" % tag))
        T.curl(self.s2.url("/ok/%s-2" % tag))

    def test_exclude_ports(self):
        def body(c):
            self.curl_both("xp")
            c.wait_spans(T.server_of(self.s1.pid, "/ok/xp-1"), 1)
            spans = c.settle()
            bad = [s for s in spans if self.s2.port in (attr(s, "server.port"), attr(s, "network.peer.port"))]
            self.assertEqual(bad, [], "spans on an excluded port\n" + T.dump_spans(bad))
            # curl's side of the allowed connection is traced.
            self.assertTrue([s for s in spans if s["kind"] == T.SPAN_KIND_CLIENT
                             and attr(s, "server.port") == self.s1.port], T.dump_spans(spans))
        self.with_agent("xports", {"exclude_ports": [self.s2.port]}, body)

    def test_processes_glob(self):
        def body(c):
            self.curl_both("pg")
            c.wait_spans(T.server_of(self.s1.pid, "/ok/pg-1"), 1)
            c.wait_spans(T.server_of(self.s2.pid, "/ok/pg-2"), 1)
            spans = c.settle()
            curl = [s for s in spans if s["resource"].get("process.executable.name") == "curl"]
            self.assertEqual(curl, [], "curl traced although filters.processes is python*\n" +
                             T.dump_spans(curl))
        self.with_agent("procs", {"processes": ["python*"]}, body)

    def test_exclude_processes(self):
        def body(c):
            self.curl_both("ep")
            c.wait_spans(T.server_of(self.s1.pid, "/ok/ep-1"), 1)
            spans = c.settle()
            curl = [s for s in spans if s["resource"].get("process.executable.name") == "curl"]
            self.assertEqual(curl, [], "curl traced although excluded\n" + T.dump_spans(curl))
        self.with_agent("xprocs", {"exclude_processes": ["curl"]}, body)

    def test_processes_and_ports_both_apply(self):
        def body(c):
            self.curl_both("pp")
            c.wait_spans(T.server_of(self.s1.pid, "/ok/pp-1"), 1)
            spans = c.settle()
            other = [s for s in spans if pid_of(s) != self.s1.pid]
            self.assertEqual(other, [], "only server 1 (python, port %d) may be traced\n%s" % (
                self.s1.port, T.dump_spans(other)))
        self.with_agent("both", {"processes": ["python*"], "ports": [self.s1.port]}, body)

    def test_process_started_later_is_classified_at_exec(self):
        def body(c):
            late = T.PyServer(name="sel-late").start()
            try:
                T.curl(late.url("/ok/late"))
                c.wait_spans(T.server_of(late.pid, "/ok/late"), 1,
                             what="span of a python server started after the agent")
            finally:
                late.stop()
            spans = c.settle()
            curl = [s for s in spans if s["resource"].get("process.executable.name") == "curl"]
            self.assertEqual(curl, [], T.dump_spans(curl))
        self.with_agent("late", {"processes": ["python*"]}, body)


if __name__ == "__main__":
    T.main([Selectors])
