#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Resources: resource.attributes and the agent's OTEL_RESOURCE_ATTRIBUTES on every span,
k8s.node.name from K8S_NODE_NAME, services rules by executable and port (also for a process
that starts listening after its first span), host processes without container.id, and, when
podman and a local debian:bookworm-slim image exist, container.id of a containerised server.

Spans are told apart by the PIDs of this test's own servers: other agents and other HTTP
traffic may share the host."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402

IMAGE = "localhost/debian:bookworm-slim"
NODE = "node-7"

# Connects to a server first (a CLIENT span while it listens on nothing), waits past the
# agent's revalidation interval (1 s), then serves "ok" on PORT and reports its pid.
LATE_LISTENER = r"""
import json, socket, sys, time, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
urllib.request.urlopen(sys.argv[1], timeout=10).read()
time.sleep(1.5)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
srv = HTTPServer(("127.0.0.1", int(sys.argv[2])), H)
print(json.dumps({"pid": __import__("os").getpid()}), flush=True)
srv.serve_forever()
"""

# A one-connection-at-a-time HTTP/1.1 server in perl (perl-base is in every Debian image).
PERL_SERVER = r"""
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 16,
                              ReuseAddr => 1) or die "listen: $!";
$| = 1;
print "listening\n";
while (my $c = $s->accept) {
    while (my $l = <$c>) { last if $l =~ /^\r?\n$/; }
    print $c "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    close $c;
}
"""


def need_podman_image(test):
    """podman and the local base image for test: under CI=true installed or made
    (tests/deploy/base-image.sh) or the test fails; elsewhere a missing one skips it."""
    T.need_tool(test, "podman", "podman")
    r = subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True, timeout=60)
    if r.returncode == 0:
        return
    if not T.in_ci():
        test.skipTest("no local %s image (make it with tests/deploy/base-image.sh): container "
                      "detection left to the unit tests (tests/unit/test_cgroup.c)" % IMAGE)
    r = subprocess.run(["bash", str(T.REPO / "tests/deploy/base-image.sh")], capture_output=True,
                       text=True, timeout=1500)
    if r.returncode != 0:
        test.fail("CI=true: no local %s image and tests/deploy/base-image.sh failed (status %d):\n%s"
                  % (IMAGE, r.returncode, (r.stdout + r.stderr)[-2000:]))


def podman_env(conf_dir):
    """podman's environment: a containers.conf of our own (/etc/containers is left alone) without
    default ulimits, which runc may not raise here (see DESIGN.md); as test_container.py does."""
    conf = conf_dir / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    return T.clean_env({"CONTAINERS_CONF": str(conf)})


def yaml_config(collector, rules, environment="test"):
    """The agent config: T.agent_config plus resource attributes and services rules."""
    text = T.to_yaml(T.agent_config(collector)) + "\n"
    text += "resource:\n  attributes:\n    deployment.environment: %s\n" % environment
    text += "services:\n"
    for name, exe, port in rules:
        text += "  - name: %s\n" % name
        if exe:
            text += "    executable: \"%s\"\n" % exe
        if port:
            text += "    port: %d\n" % port
    return text


def res(s):
    return s.get("resource", {})


class Resource(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.port = T.free_port()
        cls.late_port = T.free_port()
        cls.orders = T.PyServer(ports=(cls.port,), name="res-orders").start()
        cls.other = T.PyServer(name="res-other").start()
        cls.collector = T.Collector("res-collector").start()
        cfg = yaml_config(cls.collector, [("orders", "python*", cls.port),
                                          ("late-orders", "python*", cls.late_port)])
        cls.agent = T.Agent(cfg, name="res-agent",
                            env={"OTEL_RESOURCE_ATTRIBUTES": "team=core", "K8S_NODE_NAME": NODE})
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        cls.collector.stop()
        cls.orders.stop()
        cls.other.stop()
        if code != 0:
            raise AssertionError("agent exit status %s\n%s" % (code, cls.agent.tail()))

    def assertCommon(self, s):
        r = res(s)
        want = {"deployment.environment": "test", "team": "core", "k8s.node.name": NODE}
        got = {k: r.get(k) for k in want}
        self.assertEqual(got, want, "resource attributes\n" + T.dump_spans([s]))
        self.assertTrue(r.get("host.name"), "no host.name\n" + T.dump_spans([s]))

    def test_service_rules_and_attributes(self):
        T.curl(self.orders.url("/ok/res-orders"))
        T.curl(self.other.url("/ok/res-other"))
        got = self.collector.wait_spans(T.server_of(self.orders.pid, "/ok/res-orders"), 1,
                                        what="span of the server on the rule's port")
        other = self.collector.wait_spans(T.server_of(self.other.pid, "/ok/res-other"), 1,
                                          what="span of the other server")
        self.assertEqual(res(got[0]).get("service.name"), "orders", T.dump_spans(got))
        # The other python server matches the executable glob but not the port.
        self.assertIn(res(other[0]).get("service.name"), self.other.exe_names(),
                      T.dump_spans(other))
        for s in got + other:
            self.assertCommon(s)
            # Host processes: no container.id, no pod.
            self.assertNotIn("container.id", res(s), T.dump_spans([s]))
            self.assertNotIn("k8s.pod.uid", res(s), T.dump_spans([s]))

    def test_every_span_has_the_attributes(self):
        T.curl(self.other.url("/ok/res-every"))
        self.collector.wait_spans(T.server_of(self.other.pid, "/ok/res-every"), 1)
        spans = self.collector.settle()
        self.assertTrue(spans)
        # This agent exports to this collector alone: every span went through it.
        bad = [s for s in spans if res(s).get("deployment.environment") != "test"
               or res(s).get("team") != "core" or res(s).get("k8s.node.name") != NODE]
        self.assertEqual(bad, [], "spans without the configured attributes\n" + T.dump_spans(bad))

    def test_process_listening_after_its_first_span(self):
        d = T.workdir("res-late")
        err = open(d / "stderr", "wb")
        p = T.spawn([sys.executable, "-u", "-c", LATE_LISTENER, self.other.url("/ok/res-early"),
                     str(self.late_port)], "res-late", stdout=subprocess.PIPE, stderr=err,
                    env=T.clean_env())
        try:
            pid = T.read_json_line(p, 30, "late listener")["pid"]
            T.curl("http://127.0.0.1:%d/ok/res-late" % self.late_port)
            client = self.collector.wait_spans(
                lambda s: s["kind"] == T.SPAN_KIND_CLIENT and res(s).get("process.pid") == pid,
                1, what="CLIENT span of the process before it listens")
            server = self.collector.wait_spans(T.server_of(pid, "/ok/res-late"), 1,
                                               what="SERVER span once it listens")
        finally:
            T.stop_process(p)
        self.assertNotEqual(res(client[0]).get("service.name"), "late-orders",
                            T.dump_spans(client))
        self.assertEqual(res(server[0]).get("service.name"), "late-orders", T.dump_spans(server))
        self.assertCommon(server[0])

    def test_reload_makes_resources_anew(self):
        collector = T.Collector("res-reload-collector").start()
        agent = T.Agent(yaml_config(collector, [("orders", "python*", self.port)]),
                        name="res-reload-agent", env={"K8S_NODE_NAME": NODE})
        agent.start()
        try:
            T.curl(self.orders.url("/ok/res-before"))
            before = collector.wait_spans(T.server_of(self.orders.pid, "/ok/res-before"), 1)
            agent.config_path.write_text(yaml_config(collector, [("orders-v2", "python*", self.port)],
                                                     environment="staging"))
            agent.proc.send_signal(signal.SIGHUP)
            self.assertTrue(T.wait_until(lambda: re.search(r"SIGHUP: configuration reloaded",
                                                           agent.stderr()), 20),
                            "no reload\n" + agent.tail())
            T.curl(self.orders.url("/ok/res-after"))
            after = collector.wait_spans(T.server_of(self.orders.pid, "/ok/res-after"), 1)
        finally:
            code = agent.stop()
            collector.stop()
        self.assertEqual(code, 0, agent.tail())
        self.assertEqual((res(before[0]).get("service.name"),
                          res(before[0]).get("deployment.environment")), ("orders", "test"),
                         T.dump_spans(before))
        self.assertEqual((res(after[0]).get("service.name"),
                          res(after[0]).get("deployment.environment")), ("orders-v2", "staging"),
                         T.dump_spans(after))

    def test_container_id(self):
        need_podman_image(self)
        port = T.free_port()
        env = podman_env(T.workdir("res-podman"))
        name = "spanbpf-res-%d" % os.getpid()
        r = subprocess.run(["podman", "run", "-d", "--rm", "--runtime", "runc", "--network",
                            "host", "--name", name, IMAGE, "perl", "-e", PERL_SERVER, str(port)],
                           capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, "podman run failed:\n" + r.stderr)
        cid = r.stdout.strip().split("\n")[-1]
        try:
            self.assertRegex(cid, r"^[0-9a-f]{64}$")
            self.assertTrue(T.wait_until(lambda: T.tcp_accepts("127.0.0.1", port), 30),
                            "the container's server does not accept")
            T.curl("http://127.0.0.1:%d/ok/res-container" % port)
            got = self.collector.wait_spans(
                lambda s: s["kind"] == T.SPAN_KIND_SERVER and T.attr(s, "server.port") == port
                and T.attr(s, "url.path") == "/ok/res-container", 1,
                what="SERVER span of the containerised server")
        finally:
            subprocess.run(["podman", "rm", "-f", "-t", "0", cid or name], capture_output=True,
                           timeout=60, env=env)
        r0 = res(got[0])
        self.assertEqual(r0.get("container.id"), cid, T.dump_spans(got))
        self.assertEqual(r0.get("process.executable.name"), "perl", T.dump_spans(got))
        self.assertNotIn("k8s.pod.uid", r0, T.dump_spans(got))
        self.assertCommon(got[0])


if __name__ == "__main__":
    T.main([Resource])
