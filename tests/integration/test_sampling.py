#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""sampling.ratio: a trace is exported whole or not at all.

Each request is curl -> A -> B (chain_server.py), a trace of four spans:
curl's CLIENT (the root), A's SERVER and CLIENT, B's SERVER.  Ratios 0, 1 and
0.5; for 0.5 the share of kept traces must be within 5 standard deviations
of the binomial mean, and every kept trace complete.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402
from test_linking import ChainServer  # noqa: E402

SPANS_PER_TRACE = 4


class Sampling(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.b = ChainServer("sampling-b").start()
        cls.a = ChainServer("sampling-a", next_url=cls.b.base()).start()

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()

    def run_ratio(self, ratio, n, name):
        """n requests through A with sampling.ratio; returns {trace_id: [spans]} of B's
        requests, waiting until every exported trace is complete."""
        collector = T.Collector(name + "-collector").start()
        cfg = T.agent_config(collector)
        cfg["sampling"] = {"ratio": ratio}
        agent = T.Agent(cfg, name=name + "-agent").start()
        try:
            tags = ["%s-%d" % (name, i) for i in range(n)]
            # Many URLs per curl: one process, one connection reused, n traces.
            for i in range(0, n, 50):
                T.curl([self.a.url(t) for t in tags[i:i + 50]])
            # Everything exported has arrived once the collector has been quiet a while;
            # B's server spans then say which traces were kept.
            paths = {"/chain/" + t for t in tags}
            spans = collector.settle()
            kept = {}
            for s in spans:
                if T.attr(s, "url.path") in paths and s["resource"].get("process.pid") == self.b.pid:
                    kept[s["trace_id"]] = [x for x in spans if x["trace_id"] == s["trace_id"]]
            # No span of these requests may sit outside a kept trace.
            stray = [s for s in spans if T.attr(s, "url.path") in paths and s["trace_id"] not in kept]
            self.assertEqual(stray, [], "spans of unsampled traces were exported\n" + T.dump_spans(stray))
            return kept
        finally:
            code = agent.stop()
            collector.stop()
            self.assertEqual(code, 0, agent.tail())

    def assertWhole(self, kept):
        for tid, spans in kept.items():
            self.assertEqual(len(spans), SPANS_PER_TRACE, "trace %s is not whole\n%s" % (
                tid, T.dump_spans(spans)))
            self.assertEqual(len({s["trace_id"] for s in spans}), 1)
            roots = [s for s in spans if s["parent_span_id"] == ""]
            self.assertEqual(len(roots), 1, "trace %s: %d roots\n%s" % (tid, len(roots), T.dump_spans(spans)))

    def test_ratio_one_keeps_everything(self):
        kept = self.run_ratio(1, 20, "ratio1")
        self.assertEqual(len(kept), 20)
        self.assertWhole(kept)

    def test_ratio_zero_keeps_nothing(self):
        kept = self.run_ratio(0, 20, "ratio0")
        self.assertEqual(kept, {})

    def test_ratio_half_is_binomial_and_whole(self):
        n = 300
        kept = self.run_ratio(0.5, n, "ratio05")
        # Binomial(300, 0.5): mean 150, sd 8.66; 5 sd either way.
        self.assertGreaterEqual(len(kept), 107, "kept %d of %d traces" % (len(kept), n))
        self.assertLessEqual(len(kept), 193, "kept %d of %d traces" % (len(kept), n))
        self.assertWhole(kept)
        T.log("sampling.ratio 0.5: kept %d of %d traces" % (len(kept), n))


if __name__ == "__main__":
    T.main([Sampling])
