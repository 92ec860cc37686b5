#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""--console prints one human-readable line per finished span on stdout.

The line must carry the service, the kind (SERVER), the span name, the status,
the duration and the trace id; the same span also reaches the collector.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402

DURATION_RE = re.compile(r"\b\d+(\.\d+)?\s*(ns|us|µs|ms|s)\b")


class Console(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.collector = T.Collector("console-collector").start()
        cls.server = T.PyServer(name="console-server").start()
        cls.agent = T.Agent(T.agent_config(cls.collector), name="console-agent").start()
        T.curl(cls.server.url("/users/42"))
        T.curl(cls.server.url("/status/503"))

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.server.stop()
        cls.collector.stop()

    def exported(self, path):
        return self.collector.wait_spans(T.server_of(self.server.pid, path), 1)[0]

    def lines_with(self, needle, timeout=10):
        got = T.wait_until(lambda: [l for l in self.agent.stdout_lines() if needle in l], timeout, 0.1)
        return got or []

    def test_1_line_printed_while_running(self):
        s = self.exported("/users/42")
        lines = self.lines_with(s["span_id"])
        self.assertTrue(lines, "no stdout line with span id %s within 10s while the agent runs "
                        "(is stdout flushed per line when it is not a terminal?)\nstdout:\n%s" % (
                            s["span_id"], self.agent.stdout()[-3000:]))

    def check_line(self, path, status_words):
        s = self.exported(path)
        # One line per span: match the span id (curl's CLIENT span, when the agent
        # makes one, shares the trace id).
        lines = [l for l in self.agent.stdout_lines() if s["span_id"] in l]
        self.assertEqual(len(lines), 1, "want one stdout line for span %s, got:\n%s\nall stdout:\n%s" % (
            s["span_id"], "\n".join(lines), self.agent.stdout()[-3000:]))
        line = lines[0]
        self.assertIn(s["trace_id"], line, "trace id missing")
        service = s["resource"]["service.name"]
        self.assertIn(service, line, "service name missing")
        self.assertRegex(line, r"(?i)\bserver\b", "kind SERVER missing")
        self.assertIn(s["name"], line, "span name missing")
        self.assertTrue(any(re.search(r"\b%s\b" % w, line) for w in status_words),
                        "status missing (want one of %s): %s" % (status_words, line))
        self.assertRegex(line, DURATION_RE, "duration missing")
        self.assertNotRegex(line, r"level=", "a log line on stdout")
        return line

    def test_2_lines_complete_after_stop(self):
        code = self.agent.stop()
        self.assertEqual(code, 0, self.agent.tail())
        l1 = self.check_line("/users/42", ["200", "UNSET", "Unset", "unset", "OK"])
        l2 = self.check_line("/status/503", ["503", "ERROR", "Error", "error"])
        T.log("console lines:\n  %s\n  %s" % (l1, l2))
        for l in self.agent.stdout_lines():
            self.assertNotRegex(l, r"level=(info|debug|warn|error)", "logs belong on stderr, not stdout")


if __name__ == "__main__":
    T.main([Console])
