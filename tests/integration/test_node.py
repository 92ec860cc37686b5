#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Node.js: which request an event loop's call is made for (uprobes on libuv's uv__read).

servers/node/front.js calls a Python service while serving: with http.get on
the global keep-alive agent, with fetch, and a second time from the first
call's response callback.  Under concurrency a call is linked to the request
whose id its path carries, or to nothing; never to another request.
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402
from spanbpf_test import attr  # noqa: E402

FRONT_JS = T.HERE / "servers" / "node" / "front.js"
N = 200
CLIENTS = 8


def rid_of(path):
    return (path or "").rstrip("/").rsplit("/", 1)[-1]


class NodeLinks(T.SpanTestCase):
    @classmethod
    def setUpClass(cls):
        node = shutil.which("node") or shutil.which("nodejs")
        cls.collector = T.Collector().start()
        cls.leaf = T.PyServer(name="py-leaf").start()
        cls.front = T.spawn([node, str(FRONT_JS), cls.leaf.url("").rstrip("/")], "node-front",
                            stdout=subprocess.PIPE)
        cls.port = T.read_json_line(cls.front, 20, "node front")["port"]
        cls.agent = T.Agent(T.agent_config(cls.collector, ports=[cls.port, cls.leaf.port])).start()
        if not T.wait_until(lambda: "libuv probes attached" in cls.agent.stderr(), 60):
            raise AssertionError("no libuv probes\n" + cls.agent.tail())

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        T.stop_process(cls.front)
        cls.leaf.stop()
        cls.collector.stop()
        assert code == 0, cls.agent.tail()

    def run_style(self, how, n, clients, calls_per_request=1):
        urls = ["http://127.0.0.1:%d/%s/%s-%d" % (self.port, how, how, i) for i in range(n)]
        with concurrent.futures.ThreadPoolExecutor(clients) as ex:
            res = list(ex.map(lambda u: T.curl(u)[0], urls))
        self.assertTrue(all(r["http_code"] == 200 for r in res), res[:3])
        want = {"%s-%d" % (how, i) for i in range(n)}
        leaf = self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and rid_of(attr(s, "url.path")) in want and
            (attr(s, "url.path") or "").startswith("/p/"), count=calls_per_request * n,
            what="the Python service's spans of the %s calls" % how)
        by_id = {s["span_id"]: s for s in self.collector.spans()}
        linked, unlinked, wrong = {}, [], []
        for s in leaf:
            call = by_id.get(s["parent_span_id"])
            self.assertIsNotNone(call, "the Node client span is missing\n" + self.dump([s]))
            up = by_id.get(call["parent_span_id"]) if call["parent_span_id"] else None
            kind = attr(s, "url.path").split("/")[2]
            if up is None:
                unlinked.append(kind)
            elif up["kind"] != T.SPAN_KIND_SERVER or rid_of(attr(up, "url.path")) != rid_of(
                    attr(s, "url.path")):
                wrong.append("%s <- %s" % (attr(s, "url.path"), attr(up, "url.path")))
            else:
                linked[kind] = linked.get(kind, 0) + 1
        T.log("node %s: linked %s, unlinked %d, wrong %d" % (how, linked, len(unlinked), len(wrong)))
        self.assertEqual(wrong, [], "wrong parents:\n" + "\n".join(wrong))
        return linked, unlinked

    def test_http_get_keepalive_agent(self):
        linked, unlinked = self.run_style("get", N, CLIENTS)
        self.assertEqual(linked.get("get", 0), N, "unlinked: %d" % len(unlinked))

    def test_fetch(self):
        linked, unlinked = self.run_style("fetch", N, CLIENTS)
        # fetch (undici) writes from its own queue: linked when it writes in the handler's
        # turn, else no parent; never a wrong one (checked above).
        T.log("fetch: %d of %d linked" % (linked.get("fetch", 0), N))

    def test_call_from_a_continuation_is_never_misattributed(self):
        linked, unlinked = self.run_style("then", N // 2, CLIENTS, calls_per_request=2)
        self.assertEqual(linked.get("then1", 0), N // 2)


if __name__ == "__main__":
    T.main([NodeLinks])
