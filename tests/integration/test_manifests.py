#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The deployment files carry what the agent needs (issue 5), checked, not eyeballed.

Every YAML file under deploy/ is read with js-yaml (an independent parser,
installed into tests/deploy/node_modules on first use); the agent's own
configurations in them are checked by the agent (`spanbpf --check-config`).
Covered: the Kubernetes manifests and their kustomization, the Dockerfile and
its ignore file, docker-compose.yml with its demo services (which are run), the
systemd unit and the paths `cmake --install` puts things at.  No root needed.
"""
import json
import os
import re
import subprocess
import sys
import unittest
import urllib.parse
from fnmatch import fnmatch
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "deploy"))
import spanbpf_test as T  # noqa: E402
import deploylib as D  # noqa: E402

# The capabilities the DaemonSet adds, each documented there; any other is a
# finding.  (SYS_ADMIN only in the documented privileged fallback.)
CAPABILITIES = {"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"}
# Host paths mounted into the agent's container, all read only.
HOST_MOUNTS = {"/sys/kernel/btf", "/sys/kernel/tracing", "/sys/kernel/debug"}
KINDS = {
    "namespace.yaml": ("v1", "Namespace"),
    "serviceaccount.yaml": ("v1", "ServiceAccount"),
    "configmap.yaml": ("v1", "ConfigMap"),
    "daemonset.yaml": ("apps/v1", "DaemonSet"),
}
BASE_IMAGE = "debian:bookworm-slim"
RUNTIME_PACKAGES = {"libbpf1", "libelf1", "libdw1", "libcapstone4", "zlib1g", "libdeflate0",
                    "libprotobuf-c1", "libcurl4", "libyaml-0-2", "libmicrohttpd12", "ca-certificates"}
# In the base image already (Essential or required by it).
BASE_PACKAGES = {"libc6", "libgcc-s1"}
ENTRYPOINT = ["/usr/local/bin/spanbpf", "--config", "/etc/spanbpf/spanbpf.yaml"]
SPAN_BYTES_MAX = 3 * 1024      # a queued span with long strings (see configmap.yaml)
AGENT_BASE_BYTES = 64 << 20    # RSS, BPF maps and slack besides the queue


def check_config(text_or_path, name="spanbpf.yaml", env=None):
    """Run `spanbpf --check-config` on a configuration; (exit code, output)."""
    path = Path(text_or_path) if isinstance(text_or_path, Path) else None
    if path is None:
        path = T.workdir("configs") / name
        path.write_text(text_or_path)
    r = subprocess.run([T.OPTS.agent, "--check-config", "--config", str(path)], capture_output=True,
                       text=True, timeout=30, env=T.clean_env(env))
    return r.returncode, r.stdout + r.stderr


def parse_config(text):
    """A spanbpf configuration text read by js-yaml."""
    p = T.workdir("configs") / "parsed.yaml"
    p.write_text(text)
    return D.load_one(p)


def comment_above(lines, index):
    """The comment lines directly above lines[index] (indentation ignored)."""
    out = []
    i = index - 1
    while i >= 0 and lines[i].strip().startswith("#"):
        out.insert(0, lines[i].strip().lstrip("#").strip())
        i -= 1
    return " ".join(out)


class Kustomization(unittest.TestCase):
    def setUp(self):
        self.kust = D.load_one(D.K8S / "kustomization.yaml")

    def test_lists_every_manifest(self):
        present = sorted(p.name for p in D.K8S.glob("*.yaml") if p.name != "kustomization.yaml")
        self.assertEqual(self.kust.get("kind"), "Kustomization")
        self.assertEqual(self.kust.get("apiVersion"), "kustomize.config.k8s.io/v1beta1")
        self.assertEqual(sorted(self.kust["resources"]), present,
                         "kustomization.yaml resources must list every manifest in deploy/kubernetes")
        self.assertEqual(len(set(self.kust["resources"])), len(self.kust["resources"]), "duplicates")
        self.assertEqual(sorted(present), sorted(KINDS), "unexpected or missing manifests")

    def test_kinds_api_versions_and_namespace(self):
        docs = {name: D.load_one(D.K8S / name) for name in KINDS}
        for name, (api, kind) in KINDS.items():
            d = docs[name]
            self.assertEqual((d.get("apiVersion"), d.get("kind")), (api, kind), name)
            self.assertRegex(d["metadata"]["name"], r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", name)
        ns = docs["namespace.yaml"]["metadata"]["name"]
        self.assertEqual(self.kust.get("namespace"), ns)
        for name in KINDS:
            if name != "namespace.yaml":
                self.assertEqual(docs[name]["metadata"].get("namespace"), ns,
                                 "%s must live in the %s namespace" % (name, ns))
        # hostPID and added capabilities pass only the "privileged" Pod Security level.
        labels = docs["namespace.yaml"]["metadata"].get("labels", {})
        self.assertEqual(labels.get("pod-security.kubernetes.io/enforce"), "privileged")

    def test_image_name_matches(self):
        image = D.agent_container(D.daemonset())["image"]
        names = [i["name"] for i in self.kust.get("images", [])]
        self.assertIn(image.split(":")[0], names, "kustomization images[] should name the DaemonSet's image")

    def test_no_yaml_1_1_booleans_unquoted(self):
        for p in sorted(D.K8S.glob("*.yaml")) + [D.COMPOSE, D.DEPLOY / "demo" / "spanbpf.yaml"]:
            self.assertEqual(D.ambiguous_scalars(p), [],
                             "%s: quote these: YAML 1.1 parsers (Kubernetes, Compose) read them "
                             "as booleans" % p)


class DaemonSet(unittest.TestCase):
    def setUp(self):
        self.ds = D.daemonset()
        self.pod = self.ds["spec"]["template"]["spec"]
        self.c = D.agent_container(self.ds)
        self.lines = D.DAEMONSET.read_text().split("\n")

    def test_host_pid_and_no_host_network(self):
        self.assertIs(self.pod.get("hostPID"), True)
        self.assertFalse(self.pod.get("hostNetwork", False),
                         "hostNetwork is not needed (see the comment in daemonset.yaml)")
        self.assertFalse(self.pod.get("hostIPC", False))
        self.assertIn("hostNetwork", D.DAEMONSET.read_text(), "the hostNetwork decision is documented")

    def test_capabilities_exact_and_documented(self):
        drop, add = D.capabilities(self.ds)
        self.assertEqual(drop, ["ALL"])
        self.assertEqual(set(add), CAPABILITIES, "capabilities added: exactly these, no more")
        self.assertEqual(len(add), len(set(add)))
        for cap in add:
            idx = [i for i, l in enumerate(self.lines) if re.match(r"^\s*-\s*%s\s*$" % cap, l)]
            self.assertEqual(len(idx), 1, "capability %s listed once, as '- %s'" % (cap, cap))
            self.assertGreater(len(comment_above(self.lines, idx[0])), 20,
                               "capability %s needs a comment saying why" % cap)
        sc = self.c["securityContext"]
        self.assertIs(sc.get("privileged"), False)
        self.assertIs(sc.get("allowPrivilegeEscalation"), False)
        self.assertIs(sc.get("readOnlyRootFilesystem"), True)
        self.assertEqual(sc.get("runAsUser"), 0, "added capabilities work only for uid 0")
        self.assertIn(sc.get("seccompProfile", {}).get("type"), ("Unconfined", "RuntimeDefault"))

    def test_privileged_fallback_documented(self):
        text = D.DAEMONSET.read_text()
        head = "\n".join(l for l in self.lines if l.startswith("#"))
        self.assertIn("privileged: true", head, "the privileged fallback for old kernels")
        self.assertIn("5.8", head, "the kernel version below which the fallback is needed")
        self.assertNotRegex(re.sub(r"#.*", "", text), r"privileged:\s*true",
                            "privileged only in the documented fallback, not in the manifest")

    def test_host_mounts(self):
        mounts = D.host_mounts(self.ds)
        self.assertEqual({h for h, _, _ in mounts}, HOST_MOUNTS)
        for host, path, ro in mounts:
            self.assertEqual(host, path, "host %s mounted at the same path" % host)
            self.assertTrue(ro, "%s must be mounted read only" % host)
        vols = {v["name"]: v for v in self.pod["volumes"]}
        for v in vols.values():
            if "hostPath" in v:
                self.assertNotEqual(v["hostPath"]["path"].rstrip("/"), "/proc",
                                    "hostPID already shows the host's /proc")
                self.assertIn(v["hostPath"]["path"], HOST_MOUNTS)
        used = {m["name"] for m in self.c["volumeMounts"]}
        self.assertEqual(set(vols), used, "every volume mounted, every mount a volume")

    def test_config_mount_matches_args_and_configmap(self):
        cm = D.load_one(D.CONFIGMAP)
        name, path = D.config_mount(self.ds)
        self.assertEqual(name, cm["metadata"]["name"])
        self.assertEqual(path, "/etc/spanbpf")
        self.assertEqual(self.c.get("args"), ["--config", "%s/%s" % (path, D.CONFIG_KEY)])
        self.assertEqual(list(cm["data"]), [D.CONFIG_KEY])

    def test_resources(self):
        res = self.c["resources"]
        req, lim = res["requests"], res["limits"]
        self.assertEqual((req["cpu"], req["memory"]), ("50m", "64Mi"))
        self.assertEqual((lim["cpu"], lim["memory"]), ("500m", "256Mi"))
        for k in ("cpu", "memory"):
            self.assertLessEqual(D.parse_quantity(req[k]), D.parse_quantity(lim[k]), k)
        # A full span queue must fit the memory limit.
        cfg = parse_config(D.configmap_config())
        queue = cfg["queue"]["max_spans"]
        self.assertLessEqual(queue * SPAN_BYTES_MAX + AGENT_BASE_BYTES, D.parse_quantity(lim["memory"]),
                             "queue.max_spans %d can outgrow the memory limit" % queue)

    def test_node_name_from_downward_api(self):
        env = {e["name"]: e for e in self.c.get("env", [])}
        self.assertIn("K8S_NODE_NAME", env)
        self.assertEqual(env["K8S_NODE_NAME"].get("valueFrom"), {"fieldRef": {"fieldPath": "spec.nodeName"}})

    def test_grace_period_exceeds_shutdown_timeout(self):
        cfg = parse_config(D.configmap_config())
        shutdown = D.parse_duration(cfg["shutdown_timeout"])
        grace = self.pod["terminationGracePeriodSeconds"]
        self.assertGreater(grace, shutdown, "the kubelet would SIGKILL the agent while it flushes")

    def test_every_node_and_rolling_updates(self):
        tol = self.pod.get("tolerations", [])
        self.assertTrue(any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
                            for t in tol), "a toleration matching every taint")
        self.assertEqual(self.ds["spec"]["updateStrategy"]["type"], "RollingUpdate")
        sel = self.ds["spec"]["selector"]["matchLabels"]
        labels = self.ds["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(sel and all(labels.get(k) == v for k, v in sel.items()),
                        "the selector must match the pod template's labels")
        sa = D.load_one(D.K8S / "serviceaccount.yaml")
        self.assertEqual(self.pod.get("serviceAccountName"), sa["metadata"]["name"])
        self.assertIs(self.pod.get("automountServiceAccountToken"), False)
        self.assertIs(sa.get("automountServiceAccountToken"), False)

    def test_metrics_port_matches_config(self):
        cfg = parse_config(D.configmap_config())
        listen = cfg["metrics"]["listen"]
        port = int(listen.rsplit(":", 1)[1])
        ports = {p["name"]: p for p in self.c.get("ports", [])}
        self.assertEqual(ports["metrics"]["containerPort"], port)
        ann = self.ds["spec"]["template"]["metadata"].get("annotations", {})
        self.assertEqual(ann.get("prometheus.io/port"), str(port))


class ConfigMapConfig(unittest.TestCase):
    def setUp(self):
        self.text = D.configmap_config()
        self.cfg = parse_config(self.text)

    def test_agent_accepts_it(self):
        rc, out = check_config(self.text, "configmap.yaml", env={"K8S_NODE_NAME": "node-1"})
        self.assertEqual(rc, 0, "spanbpf --check-config refused the ConfigMap's config:\n" + out)
        self.assertIn("valid", out)

    def test_exports_to_in_cluster_collector(self):
        u = urllib.parse.urlsplit(self.cfg["exporter"]["endpoint"])
        self.assertEqual(u.scheme, "http")
        self.assertRegex(u.hostname, r"^[a-z0-9-]+\.[a-z0-9-]+\.svc(\.cluster\.local)?$",
                         "a Service name: NAME.NAMESPACE.svc")
        self.assertEqual((u.port, u.path), (4318, "/v1/traces"))

    def test_export_traffic_never_traced(self):
        ports = set(self.cfg["filters"]["exclude_ports"])
        self.assertIn(4318, ports, "the collector's side of the exports goes through a Service's "
                                   "DNAT, so its port must be excluded")
        listen = self.cfg["metrics"]["listen"]
        self.assertIn(int(listen.rsplit(":", 1)[1]), ports, "metrics scrapes are not app traffic")


class Dockerfile(unittest.TestCase):
    def setUp(self):
        self.pre, self.stages = D.dockerfile_stages()

    def runs(self, stage):
        return [a for i, a in stage if i == "RUN"]

    def test_two_stages_on_bookworm_slim(self):
        self.assertIn(("ARG", "DEBIAN_IMAGE=%s" % BASE_IMAGE), self.pre)
        self.assertEqual([s[0] for s in self.stages],
                         [("FROM", "${DEBIAN_IMAGE} AS build"), ("FROM", "${DEBIAN_IMAGE}")])

    def test_build_stage(self):
        build = self.stages[0]
        pkgs = [p for r in self.runs(build) for p in D.apt_packages(r)]
        for p in ("cmake", "clang", "bpftool", "libbpf-dev", "protobuf-c-compiler", "libmicrohttpd-dev"):
            self.assertIn(p, pkgs)
        cmake = [r for r in self.runs(build) if "cmake -S" in r]
        self.assertEqual(len(cmake), 1)
        self.assertIn("-DBUILD_TESTING=OFF", cmake[0])
        self.assertIn("cmake --build", cmake[0])

    def test_runtime_stage(self):
        rt = self.stages[1]
        runs = self.runs(rt)
        pkgs = [p for r in runs for p in D.apt_packages(r)]
        self.assertEqual(set(pkgs), RUNTIME_PACKAGES, "runtime libraries only")
        for r in runs:
            if "apt-get install" in r:
                self.assertIn("--no-install-recommends", r)
                self.assertIn("rm -rf /var/lib/apt/lists", r)
        copies = [a for i, a in rt if i == "COPY"]
        self.assertIn("--from=build /src/build/spanbpf /usr/local/bin/spanbpf", copies)
        self.assertIn("config/spanbpf.yaml /etc/spanbpf/spanbpf.yaml", copies)
        ep = [a for i, a in rt if i == "ENTRYPOINT"]
        self.assertEqual(len(ep), 1)
        self.assertEqual(json.loads(ep[0]), ENTRYPOINT)
        self.assertIn(("STOPSIGNAL", "SIGTERM"), rt)

    def test_runtime_packages_cover_the_binary(self):
        """Each library the agent links (ELF NEEDED) comes from a runtime package or the base."""
        T.need_tool(self, "readelf", "binutils")
        T.need_tool(self, "dpkg", "dpkg")
        r = subprocess.run(["readelf", "-d", T.OPTS.agent], capture_output=True, text=True, timeout=30)
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
        self.assertTrue(needed, "no NEEDED entries in %s" % T.OPTS.agent)
        missing = []
        for lib in needed:
            s = subprocess.run(["dpkg", "-S", "*/" + lib], capture_output=True, text=True, timeout=30)
            owners = {line.split(":")[0] for line in s.stdout.split("\n") if line}
            if not owners & (RUNTIME_PACKAGES | BASE_PACKAGES):
                missing.append("%s (from %s)" % (lib, ", ".join(sorted(owners)) or "?"))
        self.assertEqual(missing, [], "libraries no runtime package provides")

    def test_ignore_file(self):
        patterns = [l.strip() for l in D.DOCKERIGNORE.read_text().split("\n")
                    if l.strip() and not l.startswith("#")]
        for p in (".git", "build", "build-*", "**/node_modules"):
            self.assertIn(p, patterns)
        sources = []
        for stage in self.stages:
            for i, a in stage:
                if i == "COPY" and not a.startswith("--from"):
                    sources += a.split()[:-1]
        self.assertTrue(sources)
        for src in sources:
            self.assertTrue((T.REPO / src).exists(), "COPY source %s missing" % src)
            first = src.split("/")[0]
            for p in patterns:
                self.assertFalse(fnmatch(first, p) or fnmatch(src, p),
                                 "COPY source %s is excluded by %s" % (src, p))


class Compose(unittest.TestCase):
    def setUp(self):
        self.doc = D.load_one(D.COMPOSE)
        self.svc = self.doc["services"]

    def host_ports(self, s):
        out = set()
        for p in s.get("ports", []):
            host, _, ctr = str(p).rpartition(":")
            out.add((int(host.rsplit(":", 1)[-1]), int(ctr.split("/")[0])))
        return out

    def test_services(self):
        for name in ("agent", "jaeger", "frontend", "backend"):
            self.assertIn(name, self.svc)
        a = self.svc["agent"]
        self.assertIs(a.get("privileged"), True)
        self.assertEqual(a.get("pid"), "host")
        self.assertEqual(a.get("network_mode"), "host")
        ctx = (D.COMPOSE.parent / a["build"]["context"]).resolve()
        self.assertEqual(ctx, T.REPO)
        self.assertEqual((ctx / a["build"]["dockerfile"]).resolve(), D.DOCKERFILE)
        vols = {v.split(":")[1]: v.split(":")[0] for v in a["volumes"]}
        for p in ("/sys/kernel/tracing", "/sys/kernel/btf"):
            self.assertEqual(vols.get(p), p)
        cfg_src = D.COMPOSE.parent / vols["/etc/spanbpf/spanbpf.yaml"]
        self.assertTrue(cfg_src.is_file(), cfg_src)
        self.assertEqual(a.get("command"), ENTRYPOINT[1:])

    def test_jaeger_receives_otlp_http(self):
        j = self.svc["jaeger"]
        self.assertTrue(j["image"].startswith("jaegertracing/all-in-one:"), j["image"])
        self.assertEqual(str(j["environment"]["COLLECTOR_OTLP_ENABLED"]), "true")
        ports = self.host_ports(j)
        self.assertIn((4318, 4318), ports)
        self.assertIn((16686, 16686), ports)
        cfg = D.load_one(D.DEPLOY / "demo" / "spanbpf.yaml")
        u = urllib.parse.urlsplit(cfg["exporter"]["endpoint"])
        self.assertIn(u.hostname, ("localhost", "127.0.0.1"), "the agent uses the host's network")
        self.assertEqual((u.port, u.path), (4318, "/v1/traces"))
        self.assertIn(4318, cfg["filters"]["exclude_ports"])

    def test_compose_tool_accepts_it(self):
        """docker-compose's own schema, when it is installed (it is not needed to run the tests)."""
        tool = T.need_tool(self, "docker-compose", "docker-compose")
        r = subprocess.run([tool, "-f", str(D.COMPOSE), "config", "-q"], capture_output=True, text=True,
                           timeout=60, env=T.clean_env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_demo_config_valid(self):
        rc, out = check_config(D.DEPLOY / "demo" / "spanbpf.yaml")
        self.assertEqual(rc, 0, out)

    def test_demo_services_wired(self):
        names = set()
        for name in ("frontend", "backend"):
            s = self.svc[name]
            self.assertEqual(s["command"][:3], ["python3", "-u", "/demo/app.py"])
            self.assertEqual(s["command"][3], name)
            src = [v.split(":")[0] for v in s["volumes"] if v.split(":")[1] == "/demo/app.py"]
            self.assertEqual(len(src), 1)
            self.assertTrue((D.COMPOSE.parent / src[0]).is_file())
            names.add(s["environment"]["OTEL_SERVICE_NAME"])
        self.assertEqual(names, {"frontend", "backend"})
        fe = self.svc["frontend"]["command"]
        be = self.svc["backend"]["command"]
        backend_url = urllib.parse.urlsplit(fe[fe.index("--backend") + 1])
        self.assertEqual(backend_url.hostname, "backend")
        self.assertEqual(backend_url.port, int(be[be.index("--port") + 1]))

    def test_demo_app_frontend_calls_backend(self):
        """Run the demo's backend and frontend on this host and follow one request through."""
        app = D.DEPLOY / "demo" / "app.py"
        bport, fport = T.free_port(), T.free_port()
        procs = []
        for port, argv in ((bport, ["backend", "--port", str(bport)]),
                           (fport, ["frontend", "--port", str(fport),
                                    "--backend", "http://127.0.0.1:%d" % bport])):
            p = T.spawn([sys.executable, "-u", app] + argv, "demo-" + argv[0],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=T.clean_env())
            procs.append(p)
            up = T.wait_until(lambda: p.poll() is not None or T.tcp_accepts("127.0.0.1", port), 15)
            self.assertTrue(up and p.poll() is None, "demo %s did not start" % argv[0])
        try:
            ok = T.curl("http://127.0.0.1:%d/shop/7" % fport, out=[T.workdir("demo") / "body"])[0]
            self.assertEqual(ok["http_code"], 200)
            body = json.loads((T.workdir("demo") / "body").read_text())
            self.assertEqual(body["item"]["id"], 7)
            self.assertEqual(T.curl("http://127.0.0.1:%d/shop/13" % fport)[0]["http_code"], 502)
            self.assertEqual(T.curl("http://127.0.0.1:%d/nope" % fport)[0]["http_code"], 404)
        finally:
            for p in procs:
                T.stop_process(p)


class Systemd(unittest.TestCase):
    UNIT = D.DEPLOY / "systemd" / "spanbpf.service"

    def unit(self):
        sections, cur = {}, None
        for line in self.UNIT.read_text().split("\n"):
            s = line.strip()
            if not s or s.startswith(("#", ";")):
                continue
            if s.startswith("["):
                cur = sections.setdefault(s.strip("[]"), {})
                continue
            k, _, v = s.partition("=")
            cur.setdefault(k.strip(), []).append(v.strip())
        return sections

    def test_unit(self):
        svc = self.unit()["Service"]
        self.assertEqual(svc["ExecStart"], [" ".join(ENTRYPOINT)])
        self.assertEqual(svc["KillSignal"], ["SIGTERM"])
        self.assertIn("-HUP", svc["ExecReload"][0])
        default_cfg = D.load_one(T.REPO / "config" / "spanbpf.yaml")
        self.assertGreater(D.parse_duration(svc["TimeoutStopSec"][0]),
                           D.parse_duration(default_cfg["shutdown_timeout"]))
        caps = set(svc["CapabilityBoundingSet"][0].split())
        self.assertEqual(caps, {"CAP_" + c for c in CAPABILITIES} | {"CAP_SYS_ADMIN"})
        self.assertEqual(self.unit()["Install"]["WantedBy"], ["multi-user.target"])

    def test_systemd_analyze_verify(self):
        """systemd's own parser: no unknown or malformed setting."""
        T.need_tool(self, "systemd-analyze", "systemd")
        r = subprocess.run(["systemd-analyze", "verify", str(self.UNIT)], capture_output=True,
                           text=True, timeout=60)
        problems = [l for l in (r.stdout + r.stderr).split("\n") if l.strip()
                    and not re.search(r"Command /usr/local/bin/spanbpf is not executable", l)]
        self.assertEqual(problems, [], "systemd-analyze verify")

    def test_cmake_install_paths(self):
        """DESTDIR=... cmake --install: the binary, the config (kept when present), the unit."""
        build = Path(T.OPTS.build_dir)
        if not (build / "cmake_install.cmake").exists():
            self.skipTest("no configured build directory at %s" % build)
        dest = T.workdir("destdir")

        def install():
            r = subprocess.run(["cmake", "--install", str(build), "--prefix", "/usr/local"],
                               capture_output=True, text=True, timeout=120,
                               env=dict(T.clean_env(), DESTDIR=str(dest)))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            return r.stdout
        install()
        cfg = dest / "etc/spanbpf/spanbpf.yaml"
        self.assertTrue(os.access(dest / "usr/local/bin/spanbpf", os.X_OK))
        self.assertTrue(cfg.is_file(), "config not at DESTDIR/etc/spanbpf/spanbpf.yaml; installed: %s"
                        % sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()))
        self.assertEqual(cfg.read_text(), (T.REPO / "config" / "spanbpf.yaml").read_text())
        self.assertEqual((dest / "etc/systemd/system/spanbpf.service").read_text(), self.UNIT.read_text())
        cfg.write_text("# edited by the operator\n")
        install()
        self.assertEqual(cfg.read_text(), "# edited by the operator\n", "a reinstall overwrote the config")


if __name__ == "__main__":
    T.main([Kustomization, DaemonSet, ConfigMapConfig, Dockerfile, Compose, Systemd], needs_root=False)
