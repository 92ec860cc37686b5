#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""SIGHUP reloads the configuration file.

A valid new file takes effect without losing queued spans (here: filters.ports
moves from server 1 to server 2); an invalid one is refused with file, line and
key, the running configuration stays, and the agent keeps running.
"""
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402


class Reload(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.collector = T.Collector("reload-collector").start()
        cls.s1 = T.PyServer(name="reload-s1").start()
        cls.s2 = T.PyServer(name="reload-s2").start()

    @classmethod
    def tearDownClass(cls):
        cls.s1.stop()
        cls.s2.stop()
        cls.collector.stop()

    def config(self, port, timeout="2s"):
        return T.to_yaml(T.agent_config(self.collector, ports=[port], timeout=timeout)) + "\n"

    def hup_and_wait(self, agent, pattern):
        before = agent.stderr().count("SIGHUP: ")
        agent.proc.send_signal(signal.SIGHUP)
        ok = T.wait_until(lambda: re.search(pattern, agent.stderr()) and
                          agent.stderr().count("SIGHUP: ") >= before + 2, 20)
        self.assertTrue(ok, "no %r after SIGHUP\n%s" % (pattern, agent.tail()))

    def test_reload_filters_then_refuse_broken_file(self):
        agent = T.Agent(self.config(self.s1.port), name="reload-agent")
        agent.start()
        try:
            # 1. filters.ports = [s1]; the batch timeout (2s) keeps these queued across the reload.
            T.curl(self.s1.url("/ok/one-before"))
            T.curl(self.s2.url("/ok/two-before"))
            agent.config_path.write_text(self.config(self.s2.port))
            self.hup_and_wait(agent, r"configuration reloaded")
            self.collector.wait_spans(T.server_of(self.s1.pid, "/ok/one-before"), 1,
                                      what="span queued before the reload")
            # 2. filters.ports = [s2].
            T.curl(self.s1.url("/ok/one-after"))
            T.curl(self.s2.url("/ok/two-after"))
            self.collector.wait_spans(T.server_of(self.s2.pid, "/ok/two-after"), 1,
                                      what="server 2 traced after the reload")
            # 3. A broken file is refused; the running config (ports = [s2]) stays.
            agent.config_path.write_text(self.config(self.s2.port) + "filterz:\n  ports: [1]\n")
            self.hup_and_wait(agent, r"keeping the running configuration")
            err = agent.stderr()
            self.assertRegex(err, r"%s:\d+:\d+: filterz: unknown key" % re.escape(
                str(agent.config_path)), agent.tail())
            self.assertTrue(agent.alive(), "agent died on a broken config\n" + agent.tail())
            T.curl(self.s1.url("/ok/one-broken"))
            T.curl(self.s2.url("/ok/two-broken"))
            self.collector.wait_spans(T.server_of(self.s2.pid, "/ok/two-broken"), 1,
                                      what="server 2 still traced after a refused reload")
            spans = self.collector.settle()
            paths = {T.attr(s, "url.path") for s in T.server_spans(spans)}
            for p in ("/ok/two-before", "/ok/one-after", "/ok/one-broken"):
                self.assertNotIn(p, paths, "%s traced against the filter in force\n%s" % (
                    p, T.dump_spans(spans)))
        finally:
            code = agent.stop()
        self.assertEqual(code, 0, agent.tail())


if __name__ == "__main__":
    T.main([Reload])
