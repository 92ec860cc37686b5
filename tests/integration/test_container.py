#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The container image, built from deploy/Dockerfile and run as the DaemonSet runs it (issue 5).

With podman (runc runtime; no Docker engine or image registry is needed):
  1. the debian:bookworm-slim base is made with debootstrap when podman's store
     lacks it (tests/deploy/base-image.sh; kept for later runs);
  2. the image is built from the working tree;
  3. the container runs with what deploy/kubernetes/daemonset.yaml gives the
     pod, read from that file: hostPID, its capabilities and nothing else, its
     seccomp choice, no privilege escalation, a read-only root, its host
     mounts, the ConfigMap's configuration mounted at /etc/spanbpf,
     K8S_NODE_NAME, its memory and CPU limits.  Only the exporter endpoint is
     changed (by OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) to the test collector, and
     the network is the host's so the collector on 127.0.0.1 is reachable;
  4. Python services on the host, one as root and one as nobody, each with its
     own OTEL_SERVICE_NAME, are traced: their spans must carry their pid,
     executable path and service name (which the agent can only read with the
     capabilities the manifest grants);
  5. `podman stop` (SIGTERM, the DaemonSet's grace period) must end the agent
     with exit status 0.
The containers and images made here are removed at the end; the base image
stays cached.  Outside CI a host without podman skips (77); with CI=true the
test installs podman, runc and debootstrap with apt-get, and never skips.
"""
import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "deploy"))
import spanbpf_test as T  # noqa: E402
import deploylib as D  # noqa: E402

BASE_IMAGE = "debian:bookworm-slim"
PACKAGES = ["podman", "runc", "debootstrap"]
# Bounds, all inside ctest's 600 s for one test (tests/run.sh makes the base
# image before ctest starts, so the first bound is rarely used there).
APT_TIMEOUT = 240            # each apt-get (CI only, when podman is missing)
DEBOOTSTRAP_TIMEOUT = 200    # debootstrap alone: 35-80 s here
BASE_TIMEOUT = 240           # tests/deploy/base-image.sh: debootstrap and import
BUILD_TIMEOUT = 270          # podman build (apt-get in both stages, the compile): 30-65 s here
READY_TIMEOUT = 90
IMAGE_MAX_BYTES = 150 << 20  # the runtime image (base ~77 MB, agent and libraries ~22 MB)
NOBODY = 65534
CAP_NUMBERS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
               "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10,
               "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "SYS_MODULE": 16, "SYS_RAWIO": 17,
               "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_ADMIN": 21, "SYS_RESOURCE": 24,
               "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31, "SYSLOG": 34, "PERFMON": 38,
               "BPF": 39, "CHECKPOINT_RESTORE": 40}


def step(msg):
    T.log("[%s] %s" % (time.strftime("%H:%M:%S"), msg))


def cap_mask(text):
    return int(text, 16)


def own_capability_bounding_set():
    for line in Path("/proc/self/status").read_text().split("\n"):
        if line.startswith("CapBnd:"):
            return cap_mask(line.split()[1])
    return 0


class Podman:
    """podman with the runc runtime and this test's own containers.conf."""

    def __init__(self, conf_dir):
        # default_ulimits = []: runc must not raise the open-files limit, which
        # fails where the host's root lacks CAP_SYS_RESOURCE (as here).  A
        # file of our own (CONTAINERS_CONF) leaves /etc/containers alone.
        self.conf = conf_dir / "containers.conf"
        self.conf.write_text("[containers]\ndefault_ulimits = []\n")
        self.env = T.clean_env({"CONTAINERS_CONF": str(self.conf)})

    def run(self, *args, timeout=120, check=True, log=None):
        argv = ["podman", "--runtime", "runc"] + [str(a) for a in args]
        if log is not None:
            with open(log, "ab") as f:
                r = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                   env=self.env, stdin=subprocess.DEVNULL)
            r.stdout = ""
        else:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env,
                               stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (status %d)\n%s%s" % (
                " ".join(argv), r.returncode, r.stdout or "", getattr(r, "stderr", "") or ""))
        return r


def missing_tools(need_debootstrap):
    tools = {"podman": "podman", "runc": "runc"}
    if need_debootstrap:
        tools["debootstrap"] = "debootstrap"
    return [pkg for cmd, pkg in tools.items()
            if not shutil.which(cmd) and not os.path.exists("/usr/sbin/" + cmd)]


def apt_install(packages):
    step("CI: apt-get install %s" % " ".join(packages))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + packages):
        r = subprocess.run(argv, env=env, timeout=APT_TIMEOUT, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise AssertionError("%s failed (status %d)" % (" ".join(argv), r.returncode))


def tail(path, n=40):
    try:
        lines = Path(path).read_text(errors="replace").rstrip("\n").split("\n")
    except FileNotFoundError:
        return "(no %s)" % path
    return "\n  ".join(["%s (last %d lines):" % (path, min(n, len(lines)))] + lines[-n:])


class ContainerImage(T.SpanTestCase):
    """One image built for the class; one container run as the DaemonSet's pod."""

    podman = None
    image = None
    made = []        # ("container" | "image", name) to remove at the end

    @classmethod
    def setUpClass(cls):
        atexit.register(cls.tearDownClass)   # also when ctest's timeout ends the script
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()   # unittest does not call it when setUpClass fails
            raise

    @staticmethod
    def ensure_host_tracefs():
        """The DaemonSet mounts the host's tracefs read-only and has no CAP_SYS_ADMIN to mount
        it: like a systemd host (sys-kernel-tracing.mount), the host must have it mounted."""
        if os.path.isdir("/sys/kernel/tracing/events/syscalls"):
            return
        r = T.subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"],
                             capture_output=True, text=True, timeout=20)
        if r.returncode != 0 or not os.path.isdir("/sys/kernel/tracing/events/syscalls"):
            raise AssertionError("cannot mount tracefs on the host: %s" % r.stderr)

    @classmethod
    def prepare(cls):
        t0 = time.monotonic()
        cls.ensure_host_tracefs()
        cls.dir = T.workdir("container")
        cls.podman = None
        # Outside CI, preflight() has skipped the script when something is missing.
        if missing_tools(need_debootstrap=shutil.which("podman") is None):
            apt_install(PACKAGES)
        cls.podman = Podman(cls.dir)

        if cls.podman.run("image", "exists", BASE_IMAGE, check=False).returncode != 0:
            need = missing_tools(need_debootstrap=True)
            if need:
                apt_install(need)
            step("making %s with debootstrap (tests/deploy/base-image.sh, up to %ds)"
                 % (BASE_IMAGE, BASE_TIMEOUT))
            # SIGTERM first when it overruns, so the script removes its root file system.
            p = subprocess.Popen(["bash", str(T.REPO / "tests/deploy/base-image.sh")],
                                 env=dict(cls.podman.env, SPANBPF_DEBOOTSTRAP_TIMEOUT=str(DEBOOTSTRAP_TIMEOUT)),
                                 stdin=subprocess.DEVNULL)
            try:
                rc = p.wait(timeout=BASE_TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = T.stop_process(p, timeout=60)
                raise AssertionError("tests/deploy/base-image.sh took over %ds (stopped: %s)"
                                     % (BASE_TIMEOUT, rc))
            if rc != 0:
                raise AssertionError("tests/deploy/base-image.sh failed (status %d)" % rc)
        else:
            step("%s: cached in podman's store" % BASE_IMAGE)
        cls.base_done = time.monotonic() - t0

        cls.image = "localhost/spanbpf-test:%d" % os.getpid()
        build_log = cls.dir / "build.log"
        step("building %s from deploy/Dockerfile (up to %ds; log %s)" % (cls.image, BUILD_TIMEOUT, build_log))
        t1 = time.monotonic()
        cls.made.append(("image", cls.image))
        try:
            cls.podman.run("build", "--pull=never", "--network", "host", "--layers=false", "--force-rm",
                           "-f", D.DOCKERFILE, "--ignorefile", D.DOCKERIGNORE, "-t", cls.image, T.REPO,
                           timeout=BUILD_TIMEOUT, log=build_log)
        except (AssertionError, subprocess.TimeoutExpired) as e:
            raise AssertionError("%s\n  %s" % (e, tail(build_log)))
        cls.build_s = time.monotonic() - t1
        info = json.loads(cls.podman.run("image", "inspect", cls.image).stdout)[0]
        cls.image_info = info
        step("built in %.0fs: %s, %.1f MB" % (cls.build_s, cls.image, info["Size"] / 1e6))

    @classmethod
    def tearDownClass(cls):
        if cls.podman is None:
            return
        for kind, name in reversed(cls.made):
            if kind == "image" and T.OPTS.keep:
                T.log("--keep: leaving image %s" % name)
                continue
            argv = ["rm", "-f", "-t", "0", name] if kind == "container" else ["rmi", "-f", name]
            r = cls.podman.run(*argv, check=False, timeout=120)
            if r.returncode != 0 and "no such" not in (r.stderr or "").lower():
                T.log("cleanup: podman %s: %s" % (" ".join(argv), (r.stderr or "").strip()))
        cls.made = []

    # -------------------------------------------------------------- the image

    def test_image(self):
        """Entry point, stop signal, size; the runtime has its libraries and no tool chain."""
        cfg = self.image_info["Config"]
        self.assertEqual(cfg.get("Entrypoint"), ["/usr/local/bin/spanbpf", "--config", "/etc/spanbpf/spanbpf.yaml"])
        self.assertEqual(cfg.get("StopSignal"), "SIGTERM")
        self.assertLess(self.image_info["Size"], IMAGE_MAX_BYTES)
        r = self.podman.run("run", "--rm", "--network", "none", "--entrypoint", "sh", self.image, "-c",
                            "ldd /usr/local/bin/spanbpf; for t in gcc cc clang cmake make; do "
                            "command -v $t && echo TOOLCHAIN $t; done; exit 0")
        self.assertNotIn("not found", r.stdout, "a shared library is missing in the image:\n" + r.stdout)
        self.assertNotIn("TOOLCHAIN", r.stdout, "build tools in the runtime image:\n" + r.stdout)
        r = self.podman.run("run", "--rm", "--network", "none", self.image, "--check-config", check=False)
        self.assertEqual(r.returncode, 0, "the image's own config: " + r.stdout + r.stderr)
        r = self.podman.run("run", "--rm", "--network", "none", self.image, "--version")
        self.assertRegex(r.stdout, r"spanbpf \d+\.\d+\.\d+")

    # -------------------------------------------------------------- as the DaemonSet runs it

    def pod_argv(self, name, cfg_dir, endpoint):
        """`podman run` arguments equivalent to the DaemonSet's pod, read from daemonset.yaml."""
        ds = D.daemonset()
        pod = ds["spec"]["template"]["spec"]
        c = D.agent_container(ds)
        sc = c["securityContext"]
        self.assertTrue(pod.get("hostPID"))
        argv = ["run", "-d", "--name", name, "--pid=host",
                # Pod networking is Kubernetes' own; the host's network lets the agent
                # reach the test collector on 127.0.0.1 (tracing is the same either way).
                "--network=host",
                "--user", str(sc.get("runAsUser", 0))]
        if sc.get("readOnlyRootFilesystem"):
            argv.append("--read-only")
        if sc.get("allowPrivilegeEscalation") is False:
            argv += ["--security-opt", "no-new-privileges"]
        if sc.get("seccompProfile", {}).get("type") == "Unconfined":
            argv += ["--security-opt", "seccomp=unconfined"]
        self.assertFalse(sc.get("privileged"), "the test runs the manifest's capabilities, not privileged")
        drop, add = D.capabilities(ds)
        bounding = own_capability_bounding_set()
        self.granted = []
        for d in drop:
            argv += ["--cap-drop", d]
        for cap in add:
            if bounding >> CAP_NUMBERS[cap] & 1:
                argv += ["--cap-add", cap]
                self.granted.append(cap)
            else:
                # podman drops it silently anyway; say so.
                T.log("note: CAP_%s is not in this host's capability bounding set: the container runs "
                      "without it" % cap)
        for host, path, ro in D.host_mounts(ds):
            argv += ["-v", "%s:%s%s" % (host, path, ":ro" if ro else "")]
        _, mount = D.config_mount(ds)
        argv += ["-v", "%s:%s:ro" % (cfg_dir, mount)]
        for e in c.get("env", []):
            if e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
                argv += ["-e", "%s=%s" % (e["name"], socket.gethostname())]
            elif "value" in e:
                argv += ["-e", "%s=%s" % (e["name"], e["value"])]
        argv += ["-e", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s" % endpoint]
        lim = c["resources"]["limits"]
        argv += ["--memory", "%dm" % (D.parse_quantity(lim["memory"]) // (1 << 20)),
                 "--cpus", "%g" % D.parse_quantity(lim["cpu"])]
        argv.append(self.image)
        argv += c.get("args", [])
        return argv, int(pod["terminationGracePeriodSeconds"])

    def start_nobody_server(self, service_name):
        """http_server.py as uid nobody (from a copy nobody can read), with its own OTEL_SERVICE_NAME."""
        python = "/usr/bin/python3"
        self.assertTrue(os.access(python, os.X_OK), "%s needed (apt-get install python3)" % python)
        d = T.workdir("nobody-server")
        script = d / "http_server.py"
        shutil.copy(T.SERVER_PY, script)
        os.chmod(script, 0o644)
        p = T.spawn(["setpriv", "--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", python, "-u",
                     script, "--host", "127.0.0.1"], "nobody-server", stdout=subprocess.PIPE,
                    stderr=open(d / "stderr", "wb"), env=T.clean_env({"OTEL_SERVICE_NAME": service_name}),
                    cwd=d)
        info = T.read_json_line(p, 20, "nobody server")
        self.assertEqual(info["pid"], p.pid)
        return p, info["ports"][0]

    def check_demo_trace(self, collector):
        app = D.DEPLOY / "demo" / "app.py"
        bport, fport = T.free_port(), T.free_port()
        procs = {}
        for role, port, extra in (("backend", bport, []),
                                  ("frontend", fport, ["--backend", "http://127.0.0.1:%d" % bport])):
            p = T.spawn([sys.executable, "-u", app, role, "--port", port] + extra, "demo-" + role,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        env=T.clean_env({"OTEL_SERVICE_NAME": "demo-" + role}))
            procs[role] = p
            up = T.wait_until(lambda: p.poll() is not None or T.tcp_accepts("127.0.0.1", port), 15)
            self.assertTrue(up and p.poll() is None, "demo %s did not start" % role)
        try:
            self.assertEqual(T.curl("http://127.0.0.1:%d/shop/7" % fport)[0]["http_code"], 200)
            fe = collector.wait_spans(T.server_of(procs["frontend"].pid, "/shop/7"), 1, what="frontend span")[0]
            be = collector.wait_spans(T.server_of(procs["backend"].pid, "/api/items/7"), 1,
                                      what="backend span")[0]
            call = collector.wait_spans(lambda s: s["kind"] == T.SPAN_KIND_CLIENT
                                        and s["resource"].get("process.pid") == procs["frontend"].pid
                                        and T.attr(s, "server.port") == bport, 1,
                                        what="frontend's CLIENT span")[0]
            chain = T.dump_spans([fe, call, be])
            self.assertEqual(fe["resource"].get("service.name"), "demo-frontend", chain)
            self.assertEqual(be["resource"].get("service.name"), "demo-backend", chain)
            self.assertEqual({fe["trace_id"], call["trace_id"], be["trace_id"]}, {fe["trace_id"]},
                             "one trace\n" + chain)
            self.assertEqual(call["parent_span_id"], fe["span_id"], chain)
            self.assertEqual(be["parent_span_id"], call["span_id"], chain)
        finally:
            for p in procs.values():
                T.stop_process(p)

    def container_caps(self, name):
        pid = self.podman.run("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        status = Path("/proc/%s/status" % pid).read_text()
        eff = cap_mask(re.search(r"CapEff:\s*(\w+)", status).group(1))
        return {c for c, n in CAP_NUMBERS.items() if eff >> n & 1}, eff, int(pid)

    def test_daemonset_pod_traces_host_services_and_stops_cleanly(self):
        collector = self.collector = T.Collector("ctr-collector").start()
        root_srv = T.PyServer(name="ctr-root-server", env={"OTEL_SERVICE_NAME": "ctr-root-svc"}).start()
        nobody_proc, nobody_port = self.start_nobody_server("ctr-nobody-svc")

        # The ConfigMap's configuration as is, but for the metrics address: the
        # host's network is shared here, so a free loopback port, not :9464.
        cfg_dir = T.workdir("ctr-config")
        metrics_port = T.free_port()
        text = D.configmap_config()
        text2 = re.sub(r'(?m)^(\s*listen:\s*).*$', r'\g<1>"127.0.0.1:%d"' % metrics_port, text)
        self.assertNotEqual(text, text2, "metrics.listen not found in the ConfigMap's config")
        (cfg_dir / D.CONFIG_KEY).write_text(text2)
        os.chmod(cfg_dir / D.CONFIG_KEY, 0o644)

        name = "spanbpf-test-%d" % os.getpid()
        argv, grace = self.pod_argv(name, cfg_dir, collector.endpoint)
        step("podman " + " ".join(str(a) for a in argv))
        self.made.append(("container", name))
        t0 = time.monotonic()
        self.podman.run(*argv, timeout=120)

        def logs():
            r = self.podman.run("logs", name, check=False, timeout=30)
            return r.stdout + r.stderr

        def ready():
            out = logs()
            if T.READY_RE.search(out):
                return out
            state = self.podman.run("inspect", "--format", "{{.State.Status}}", name, check=False).stdout
            if state.strip() in ("exited", "stopped"):
                raise AssertionError("the agent's container stopped before 'ready':\n" + out)
            return None
        if not T.wait_until(ready, READY_TIMEOUT, interval=0.25):
            self.fail("the agent in the container was not ready within %ds:\n%s" % (READY_TIMEOUT, logs()))
        step("agent ready in the container after %.1fs" % (time.monotonic() - t0))

        caps, eff, agent_pid = self.container_caps(name)
        self.assertEqual(caps, set(self.granted), "the agent's effective capabilities (CapEff %x)" % eff)
        T.log("agent pid %d (host PID namespace), capabilities %s" % (agent_pid, ", ".join(sorted(caps))))

        root_exe = os.readlink("/proc/%d/exe" % root_srv.pid)
        nobody_exe = os.readlink("/proc/%d/exe" % nobody_proc.pid)
        cases = [(root_srv.pid, root_srv.port, "ctr-root-svc", root_exe, "/users/1001"),
                 (nobody_proc.pid, nobody_port, "ctr-nobody-svc", nobody_exe, "/users/2002")]
        for pid, port, svc, exe, path in cases:
            self.assertEqual(T.curl("http://127.0.0.1:%d%s" % (port, path))[0]["http_code"], 200)
        for pid, port, svc, exe, path in cases:
            spans = collector.wait_spans(T.server_of(pid, path), 1,
                                         what="SERVER span of pid %d for %s" % (pid, path),
                                         related=lambda s: s["resource"].get("process.pid") == pid)
            s = spans[0]
            res = s["resource"]
            self.assertAttrs(s, {"url.path": path, "server.port": port, "http.response.status_code": 200})
            self.assertEqual(res.get("process.pid"), pid)
            # Read from /proc/PID/environ (needs DAC_READ_SEARCH for nobody's process)
            # and /proc/PID/exe (needs SYS_PTRACE), inside the container.
            self.assertEqual(res.get("service.name"), svc,
                             "service.name from the process's OTEL_SERVICE_NAME\n" + T.dump_spans([s]))
            self.assertEqual(res.get("process.executable.path"), exe, T.dump_spans([s]))
        step("spans of both host services arrived (%.1fs after start)" % (time.monotonic() - t0))
        rss = re.search(r"VmRSS:\s*(\d+)", Path("/proc/%d/status" % agent_pid).read_text())
        stats = self.podman.run("stats", "--no-stream", "--format", "{{.MemUsage}} cpu {{.CPU}}", name,
                                check=False, timeout=60).stdout.strip()
        T.log("agent RSS %s KiB; container (with BPF maps charged to it): %s" % (
            rss.group(1) if rss else "?", stats or "?"))

        # The compose demo's services (deploy/demo/app.py) on this host: one
        # request to the frontend is one trace, the backend's span inside it.
        self.check_demo_trace(collector)
        step("the demo's frontend -> backend call is one linked trace")

        # Its own exports are never traced (no span on the collector's port).
        looped = [s for s in collector.spans()
                  if collector.port in (T.attr(s, "server.port"), T.attr(s, "client.port"))]
        self.assertEqual(looped, [], "spans of the agent's own export traffic")
        self.assertEqual(collector.decode_errors(), [])

        # podman stop: SIGTERM, SIGKILL after the DaemonSet's grace period.
        t1 = time.monotonic()
        self.podman.run("stop", "-t", grace, name, timeout=grace + 60)
        stopped = time.monotonic() - t1
        state = json.loads(self.podman.run("inspect", name).stdout)[0]["State"]
        out = logs()
        self.assertEqual(state["ExitCode"], 0, "exit status after SIGTERM\n" + out)
        self.assertLess(stopped, grace, "took the whole grace period: SIGKILL?\n" + out)
        self.assertRegex(out, r"received SIGTERM")
        step("podman stop: exit status 0 after %.1fs" % stopped)
        errors = [l for l in out.split("\n") if re.search(r"level=(error|fatal)", l)]
        self.assertEqual(errors, [], "errors in the agent's log")
        T.stop_process(nobody_proc)
        root_srv.stop()
        collector.stop()


def preflight():
    """Outside CI: skip (77) with a message when no container engine is here to test with."""
    if T.in_ci() or os.geteuid() != 0:
        return   # CI installs what is missing; T.main skips non-root runs
    need = missing_tools(need_debootstrap=False)
    if need:
        T.requirement_missing("no container engine: %s missing (apt-get install podman runc "
                              "debootstrap; with CI=true the test installs them)" % ", ".join(need))
    conf = Path(tempfile.mkdtemp(prefix="spanbpf-preflight-"))
    try:
        base = Podman(conf).run("image", "exists", BASE_IMAGE, check=False, timeout=60).returncode == 0
    finally:
        shutil.rmtree(conf, ignore_errors=True)
    if not base and missing_tools(need_debootstrap=True):
        T.requirement_missing("%s is not in podman's store and debootstrap, which makes it, is "
                              "missing (apt-get install debootstrap)" % BASE_IMAGE)


if __name__ == "__main__":
    preflight()
    T.main([ContainerImage], needs_root=True, needs_agent=False)
