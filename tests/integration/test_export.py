#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Export settings: exporter.compression, batch.max_spans, and the OTEL_* endpoint overrides."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402

DEAD_ENDPOINT = "http://127.0.0.1:9/v1/traces"   # discard port: nothing listens


class Export(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = T.PyServer(name="export-server").start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def run_agent(self, name, path, count=1, wait_for=None, env=None, **cfg):
        """Start a collector and an agent, send count requests to path (paths path0, path1...),
        wait for wait_for (default count) of their spans, stop the agent; return the collector."""
        collector = T.Collector(name + "-collector").start()
        type(self).collector = collector
        config = T.agent_config(collector, **cfg)
        agent = T.Agent(config, name=name + "-agent", env=env).start()
        try:
            T.curl([self.server.url("%s%d" % (path, i)) for i in range(count)])
            collector.wait_spans(lambda s: T.server_of(self.server.pid)(s) and
                                 T.attr(s, "url.path").startswith(path),
                                 count if wait_for is None else wait_for)
            self.assertEqual(agent.stop(), 0, agent.tail())
        finally:
            agent.stop()
            collector.stop()
        return collector

    def test_compression_none(self):
        c = self.run_agent("nogzip", "/ok/nogzip", compression="none")
        reqs = c.requests()
        self.assertTrue(reqs)
        self.assertEqual(c.decode_errors(), [])
        for r in reqs:
            self.assertIsNone(r["headers"]["content-encoding"], "compression: none still compressed")
            self.assertEqual(r["body_bytes"], r["decoded_bytes"])

    def test_batch_max_spans(self):
        # The timer is minutes away: only the size limit can send the first two
        # batches of 5; the last 2 spans go out with the flush at SIGTERM.
        c = self.run_agent("batch", "/ok/batch", count=12, wait_for=10, max_spans=5, timeout="5m")
        sizes = [r["spans"] for r in c.requests()]
        self.assertTrue(all(0 < n <= 5 for n in sizes), "batch sizes %s exceed max_spans 5" % sizes)
        got = [s for s in c.spans() if T.server_of(self.server.pid)(s)]
        self.assertEqual(len(got), 12, "spans after the flush at SIGTERM\n" + c.describe())

    def test_env_traces_endpoint_overrides_config(self):
        collector = T.Collector("envtr-collector").start()
        type(self).collector = collector
        agent = T.Agent(T.agent_config(endpoint=DEAD_ENDPOINT), name="envtr-agent",
                        env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint}).start()
        try:
            T.curl(self.server.url("/ok/envtr"))
            collector.wait_spans(T.server_of(self.server.pid, "/ok/envtr"), 1,
                                 what="span sent to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        finally:
            agent.stop()
            collector.stop()

    def test_env_otlp_endpoint_gets_v1_traces(self):
        collector = T.Collector("envep-collector").start()
        type(self).collector = collector
        agent = T.Agent(T.agent_config(endpoint=DEAD_ENDPOINT), name="envep-agent",
                        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % collector.port}).start()
        try:
            T.curl(self.server.url("/ok/envep"))
            collector.wait_spans(T.server_of(self.server.pid, "/ok/envep"), 1,
                                 what="span sent to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces")
            self.assertTrue(all(r["url"] == "/v1/traces" for r in collector.requests()))
        finally:
            agent.stop()
            collector.stop()


if __name__ == "__main__":
    T.main([Export])
