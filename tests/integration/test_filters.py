#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""filters.ports: only processes listening on a listed port are traced.

Servers: A listens on P1 (listed) and on P3 (not listed) in one process;
B listens on P2 (not listed); C starts after the agent is ready, on P4 (listed).
Expected: A's spans on P1 and on P3 (a selected process is traced whole), C's
spans, nothing from B.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402
from spanbpf_test import attr  # noqa: E402


class PortFilter(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.collector = T.Collector("filter-collector").start()
        cls.a = T.PyServer(ports=(0, 0), name="server-a").start()
        cls.b = T.PyServer(name="server-b").start()
        cls.p4 = T.free_port((T.socket.AF_INET,))
        cfg = T.agent_config(cls.collector, ports=[cls.a.ports[0], cls.p4])
        cls.agent = T.Agent(cfg, name="filter-agent").start()
        cls.c = None

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        for srv in (cls.a, cls.b, cls.c):
            if srv:
                srv.stop()
        cls.collector.stop()

    def test_only_listed_ports_processes(self):
        p1, p3 = self.a.ports
        p2 = self.b.port
        for i in range(3):
            T.curl(self.b.url("/ok/b%d" % i))
            T.curl(self.a.url("/ok/a%d" % i))
            T.curl(self.a.url("/ok/a3-%d" % i, port=p3))
        for i in range(3):
            s = self.collector.wait_spans(T.server_of(self.a.pid, "/ok/a%d" % i), 1)[0]
            self.assertEqual(attr(s, "server.port"), p1)
        spans = self.collector.settle()
        b = [s for s in spans if s["resource"].get("process.pid") == self.b.pid or p2 in (
            attr(s, "server.port"), attr(s, "client.port"))]
        self.assertEqual(b, [], "spans of server B (port %d, not in filters.ports)\n%s" % (p2, T.dump_spans(b)))

    def test_listed_process_is_traced_on_its_other_ports(self):
        p3 = self.a.ports[1]
        T.curl(self.a.url("/ok/other-port", port=p3))
        s = self.collector.wait_spans(T.server_of(self.a.pid, "/ok/other-port"), 1,
                                      what="span of server A on its unlisted port %d" % p3)[0]
        self.assertEqual(attr(s, "server.port"), p3)

    def test_server_started_after_the_agent_on_a_listed_port(self):
        type(self).c = T.PyServer(ports=(self.p4,), name="server-c").start()
        T.curl(self.c.url("/ok/late"))
        self.collector.wait_spans(T.server_of(self.c.pid, "/ok/late"), 1,
                                  what="span of server C started after the agent on listed port %d" % self.p4)


if __name__ == "__main__":
    T.main([PortFilter])
