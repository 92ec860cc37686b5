# SPDX-License-Identifier: Apache-2.0
"""What the deployment tests share: deploy/ read through an independent YAML
parser (js-yaml, run by node), and small readers for the values found there.

Used by tests/integration/test_manifests.py and test_container.py; python3
stdlib only.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE = DEPLOY / "docker-compose.yml"
DAEMONSET = K8S / "daemonset.yaml"
CONFIGMAP = K8S / "configmap.yaml"
CONFIG_KEY = "spanbpf.yaml"          # the ConfigMap's data key, a file under the mount

JS_YAML = HERE / "node_modules" / "js-yaml" / "package.json"


def ensure_js_yaml():
    """Install js-yaml into tests/deploy/node_modules (tests/deploy/install.sh) if missing."""
    if not shutil.which("node"):
        raise RuntimeError("node not found (apt-get install nodejs)")
    if not JS_YAML.exists():
        r = subprocess.run(["bash", str(HERE / "install.sh")], timeout=400)
        if r.returncode != 0 or not JS_YAML.exists():
            raise RuntimeError("cannot install js-yaml (tests/deploy/install.sh)")


def load_yaml(*paths):
    """{path: [document, ...]} for each YAML file, parsed by js-yaml."""
    ensure_js_yaml()
    r = subprocess.run(["node", str(HERE / "yaml2json.js")] + [str(p) for p in paths],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("js-yaml refused %s:\n%s" % (", ".join(str(p) for p in paths), r.stderr))
    return {Path(k): v for k, v in json.loads(r.stdout).items()}


def load_one(path):
    """The only document of a YAML file (an AssertionError if there are more or none)."""
    docs = [d for d in load_yaml(path)[Path(path)] if d is not None]
    if len(docs) != 1:
        raise AssertionError("%s: expected one YAML document, found %d" % (path, len(docs)))
    return docs[0]


# YAML 1.1 (the Kubernetes and Compose parsers) reads these unquoted words as
# booleans, YAML 1.2 (js-yaml, libyaml's users) as strings: a manifest must
# quote them so that every parser agrees.
_AMBIGUOUS = re.compile(r"^[^#]*?(?::|-)\s+(y|Y|n|N|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)\s*(#.*)?$")


def ambiguous_scalars(path):
    """[(line number, line)] of unquoted YAML 1.1 booleans in a file."""
    out = []
    for i, line in enumerate(Path(path).read_text().split("\n"), 1):
        if _AMBIGUOUS.match(line):
            out.append((i, line))
    return out


# ---------------------------------------------------------------- the DaemonSet

def daemonset():
    return load_one(DAEMONSET)


def agent_container(ds):
    cs = ds["spec"]["template"]["spec"]["containers"]
    if len(cs) != 1:
        raise AssertionError("the DaemonSet should run one container, not %d" % len(cs))
    return cs[0]


def host_mounts(ds):
    """[(host path, container path, read only)] of the agent container's hostPath volumes."""
    pod = ds["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    out = []
    for m in agent_container(ds).get("volumeMounts", []):
        v = vols.get(m["name"])
        if v and "hostPath" in v:
            out.append((v["hostPath"]["path"], m["mountPath"], bool(m.get("readOnly"))))
    return out


def config_mount(ds):
    """(ConfigMap name, mount path) of the agent's configuration volume."""
    pod = ds["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for m in agent_container(ds).get("volumeMounts", []):
        v = vols.get(m["name"])
        if v and "configMap" in v:
            return v["configMap"]["name"], m["mountPath"]
    raise AssertionError("the DaemonSet mounts no ConfigMap")


def capabilities(ds):
    """(drop, add) lists of the agent container's securityContext."""
    caps = agent_container(ds).get("securityContext", {}).get("capabilities", {})
    return list(caps.get("drop", [])), list(caps.get("add", []))


def configmap_config():
    """The agent's configuration text carried by the ConfigMap."""
    cm = load_one(CONFIGMAP)
    return cm["data"][CONFIG_KEY]


# ---------------------------------------------------------------- values

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text):
    """Seconds in a spanbpf duration ("10s", "1m30s", "500ms")."""
    text = str(text).strip()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError("not a duration: %r" % text)
    return total


_QTY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_QTY_MUL = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


def parse_quantity(q):
    """A Kubernetes resource quantity ("50m" CPU, "64Mi" memory) as a number."""
    m = _QTY.match(str(q))
    if not m:
        raise ValueError("not a quantity: %r" % q)
    return float(m.group(1)) * _QTY_MUL[m.group(2)]


# ---------------------------------------------------------------- the Dockerfile

def dockerfile_instructions(path=DOCKERFILE):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    out, cur = [], ""
    for line in Path(path).read_text().split("\n"):
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def dockerfile_stages(path=DOCKERFILE):
    """[[(INSTRUCTION, arguments)], ...] per FROM, plus the ARGs before the first FROM."""
    pre, stages = [], []
    for ins in dockerfile_instructions(path):
        if ins[0] == "FROM":
            stages.append([ins])
        elif stages:
            stages[-1].append(ins)
        else:
            pre.append(ins)
    return pre, stages


def apt_packages(run_args):
    """The packages of the `apt-get install` in one RUN instruction's text."""
    m = re.search(r"apt-get install (.*?)(?:&&|$)", run_args)
    if not m:
        return []
    return [w for w in m.group(1).split() if not w.startswith("-")]
