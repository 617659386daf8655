"""pg-keys.py -- the keys of the PostgreSQL deployment files that make them
what the README says, read without a container engine: the compose file
(docker-compose.postgres.yml, postgres.env, nginx.postgres.conf) and the
manifests of k8s/postgres/ with those of k8s/ they use (configmap, secret,
service; the StatefulSet for its grace period). Every PROFILED_* name they
set must be a setting of `profiled serve --help`.
Prints one "ok: ..." or "FAILED: ..." line per check; exits 1 on a failure.
usage: pg-keys.py DEPLOY_DIR SERVE_HELP_FILE   (run by tests/deploy/check.sh)"""
import glob
import os
import re
import sys

import yaml

DEPLOY, HELP = sys.argv[1], sys.argv[2]
failed = 0


def check(cond, what, why=""):
    global failed
    if cond:
        print("ok: " + what)
    else:
        failed += 1
        print("FAILED: " + what + (": " + why if why else ""))


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def env_file(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
    return out


def pg_url(v):
    return isinstance(v, str) and re.match(r"postgres(ql)?://", v) is not None


def url_has_password(v):
    m = re.match(r"postgres(?:ql)?://([^@/]*)@", v)
    return m is not None and ":" in m.group(1)


settings = set(re.findall(r"\b(PROFILED_[A-Z0-9_]+)\b", open(HELP).read()))
check(len(settings) > 20, "serve --help lists the PROFILED_* settings (%d)" % len(settings))
used = {}  # PROFILED_* name -> the file that sets it

# --- compose ---------------------------------------------------------------
cpath = os.path.join(DEPLOY, "docker-compose.postgres.yml")
compose = load_all(cpath)[0]
svc = compose.get("services", {})


def env_of(s):
    env = dict(s.get("environment") or {})
    files = {}
    for f in s.get("env_file") or []:
        files.update(env_file(os.path.join(DEPLOY, f)))
    files.update(env)
    return env, files


pgs = svc.get("postgres", {})
check(str(pgs.get("image", "")).startswith("postgres:15"), "compose: a postgres:15 service")
check("volumes" in pgs and pgs.get("healthcheck"), "compose: postgres keeps its data on a volume and has a healthcheck")

mig = svc.get("migrate", {})
cmd = mig.get("command") or []
cmd = cmd.split() if isinstance(cmd, str) else cmd
_, mig_env = env_of(mig)
check(cmd[:1] == ["migrate"], "compose: the migrate service runs `profiled migrate`", "command %r" % (cmd,))
check(pg_url(mig_env.get("PROFILED_DB")), "compose: migrate's PROFILED_DB is a PostgreSQL URL")
check((mig.get("depends_on") or {}).get("postgres", {}).get("condition") == "service_healthy",
      "compose: migrate waits for postgres to be healthy")

replicas = sorted(n for n in svc if n.startswith("profiled-"))
check(len(replicas) == 3, "compose: three profiled replicas", "%r" % replicas)
for n in replicas:
    s = svc[n]
    own, env = env_of(s)
    for k in env:
        if k.startswith("PROFILED_"):
            used.setdefault(k, "docker-compose.postgres.yml")
    dep = (s.get("depends_on") or {}).get("migrate", {})
    check(dep.get("condition") == "service_completed_successfully",
          "compose: %s starts after migrate completed successfully" % n)
    check(not s.get("volumes"), "compose: %s has no volume (stateless)" % n)
    check(pg_url(env.get("PROFILED_DB")) and env.get("PROFILED_DB") == mig_env.get("PROFILED_DB"),
          "compose: %s has migrate's PostgreSQL URL" % n)
    hc = " ".join((s.get("healthcheck") or {}).get("test") or [])
    check(re.search(r"127\.0\.0\.1:8080/(readyz|healthz)", hc) and "PROFILED_METRICS_LISTEN" not in env,
          "compose: %s has a healthcheck on its API port's /readyz or /healthz" % n, hc)
    check(env.get("PROFILED_TOKEN_PEPPER"), "compose: %s has the token pepper (profiled.env)" % n)
    check(env.get("PGPASSWORD") and "PGPASSWORD" not in own and "POSTGRES_PASSWORD" not in own,
          "compose: %s gets the database password from an env file, not the compose file" % n)

for n, s in svc.items():
    env = s.get("environment") or {}
    bad = [k for k, v in env.items() if "PASSWORD" in k or (pg_url(v) and url_has_password(v))]
    check(not bad, "compose: %s has no password in the compose file" % n, "%r" % bad)
pe = env_file(os.path.join(DEPLOY, "postgres.env"))
check(pe.get("POSTGRES_PASSWORD") and pe.get("POSTGRES_PASSWORD") == pe.get("PGPASSWORD"),
      "postgres.env: PGPASSWORD is postgres's POSTGRES_PASSWORD")
m = re.match(r"postgres(?:ql)?://([^@:/]+)@[^/]+/(\w+)", mig_env.get("PROFILED_DB", ""))
check(m and m.group(1) == pe.get("POSTGRES_USER") and m.group(2) == pe.get("POSTGRES_DB"),
      "compose: the URL's user and database are postgres.env's")

ng = svc.get("nginx", {})
mounts = ng.get("volumes") or []
check(any(v.startswith("./nginx.postgres.conf:/etc/nginx/nginx.conf") for v in mounts),
      "compose: nginx runs nginx.postgres.conf")
check(sorted((ng.get("depends_on") or {})) == replicas, "compose: nginx depends on every replica")
conf = open(os.path.join(DEPLOY, "nginx.postgres.conf")).read()
upstream = re.search(r"upstream profiled \{(.*?)\}", conf, re.S).group(1)
servers = sorted(re.findall(r"server ([a-z0-9-]+):8080", upstream))
check(servers == replicas, "nginx.postgres.conf: its upstream is the compose replicas", "%r" % servers)
check(re.search(r"hash \$http_auth_token consistent;", upstream), "nginx.postgres.conf: hashes on auth-token")
tries = re.search(r"proxy_next_upstream_tries (\d+);", conf)
check(tries and int(tries.group(1)) >= len(replicas), "nginx.postgres.conf: a request may try every replica")

# --- Kubernetes ------------------------------------------------------------
K8S = os.path.join(DEPLOY, "k8s")
docs = []
for p in sorted(glob.glob(os.path.join(K8S, "postgres", "*.yaml"))):
    docs += [(os.path.relpath(p, K8S), d) for d in load_all(p)]
base = {}
for name in ("configmap", "secret", "service", "statefulset"):
    base[name] = load_all(os.path.join(K8S, name + ".yaml"))[0]


def kind(k):
    return [d for _, d in docs if d.get("kind") == k]


deps, jobs, secrets = kind("Deployment"), kind("Job"), kind("Secret")
check(len(deps) == 1 and len(jobs) == 1, "k8s/postgres: one Deployment and one Job")
secrets.append(base["secret"])


def secret_value(name, key):
    for s in secrets:
        if s["metadata"]["name"] == name:
            return (s.get("stringData") or {}).get(key) or (s.get("data") or {}).get(key)
    return None


def db_from_secret(c, what):
    ref = None
    for e in c.get("env") or []:
        if e.get("name") == "PROFILED_DB":
            ref = ((e.get("valueFrom") or {}).get("secretKeyRef")) or None
    check(ref is not None, "%s: PROFILED_DB comes from a secretKeyRef" % what)
    if ref:
        v = secret_value(ref.get("name"), ref.get("key"))
        check(v is not None, "%s: the Secret %s holds %s" % (what, ref.get("name"), ref.get("key")))
        check(pg_url(v), "%s: that Secret's PROFILED_DB is a PostgreSQL URL" % what)
    return ref


def has_resources(c, what):
    r = c.get("resources") or {}
    check(r.get("requests") and r.get("limits"), "%s: resources requests and limits" % what)


cm = base["configmap"]["data"]
for k in cm:
    used.setdefault(k, "k8s/configmap.yaml")
for s in secrets:
    for k in list((s.get("stringData") or {})) + list((s.get("data") or {})):
        used.setdefault(k, "a k8s Secret")

if deps:
    d = deps[0]
    spec, pod = d["spec"], d["spec"]["template"]["spec"]
    labels = d["spec"]["template"]["metadata"]["labels"]
    c = pod["containers"][0]
    check(spec.get("replicas") == 3, "Deployment: 3 replicas")
    check(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
          "Deployment: its selector matches its pods' labels")
    check(not pod.get("volumes") and not c.get("volumeMounts"), "Deployment: no volume (stateless)")
    check(c.get("args") == ["serve"], "Deployment: runs `profiled serve`")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}
    rp = (c.get("readinessProbe") or {}).get("httpGet") or {}
    lp = (c.get("livenessProbe") or {}).get("httpGet") or {}
    check(rp.get("path") == "/readyz" and rp.get("port") in ports, "Deployment: readinessProbe on /readyz, a named port")
    check(lp.get("path") == "/healthz" and lp.get("port") in ports, "Deployment: livenessProbe on /healthz, a named port")
    mport = cm.get("PROFILED_METRICS_LISTEN", "").rsplit(":", 1)[-1]
    check(mport and ports.get(rp.get("port")) == int(mport) and ports.get(lp.get("port")) == int(mport),
          "Deployment: the probes' port is PROFILED_METRICS_LISTEN's (%s; /readyz and /healthz are served there only)" % mport)
    lport = cm.get("PROFILED_LISTEN", "").rsplit(":", 1)[-1]
    check(lport and ports.get("http") == int(lport), "Deployment: port http is PROFILED_LISTEN's (%s)" % lport)
    ref = db_from_secret(c, "Deployment")
    src = c.get("envFrom") or []
    cms = [e["configMapRef"]["name"] for e in src if "configMapRef" in e]
    srs = [e["secretRef"]["name"] for e in src if "secretRef" in e]
    check(cms == [base["configmap"]["metadata"]["name"]], "Deployment: settings from k8s/configmap.yaml")
    check(base["secret"]["metadata"]["name"] in srs, "Deployment: the token pepper from k8s/secret.yaml")
    has_resources(c, "Deployment")
    sts = base["statefulset"]["spec"]["template"]["spec"]
    g = pod.get("terminationGracePeriodSeconds")
    check(g == sts.get("terminationGracePeriodSeconds"), "Deployment: terminationGracePeriodSeconds as the StatefulSet's (%s)" % g)
    drain = int(cm.get("PROFILED_DRAIN_DELAY", 0)) + int(cm.get("PROFILED_SHUTDOWN_TIMEOUT", 30))
    check(g and g > drain, "Deployment: terminationGracePeriodSeconds above drain + shutdown (%d s)" % drain)
    sel = base["service"]["spec"]["selector"]
    check(all(labels.get(k) == v for k, v in sel.items()), "k8s/service.yaml selects the Deployment's pods")
    check(all(p.get("targetPort") in ports for p in base["service"]["spec"]["ports"]),
          "k8s/service.yaml: its targetPort is a port of the Deployment")
    if jobs:
        jl = jobs[0]["spec"]["template"]["metadata"].get("labels") or {}
        check(not all(jl.get(k) == v for k, v in sel.items()), "the migrate Job's pods are not behind the Service")

if jobs:
    j = jobs[0]
    pod = j["spec"]["template"]["spec"]
    c = pod["containers"][0]
    argv = (c.get("command") or []) + (c.get("args") or [])
    check("migrate" in argv and "serve" not in argv, "Job: runs `profiled migrate`", "%r" % argv)
    check(pod.get("restartPolicy") in ("OnFailure", "Never"), "Job: restartPolicy OnFailure or Never")
    jref = db_from_secret(c, "Job")
    if deps:
        check(jref == ref, "Job: migrates the Deployment's database (the same secretKeyRef)")
    has_resources(c, "Job")

for k, where in sorted(used.items()):
    if k.startswith("PROFILED_"):
        check(k in settings, "%s (%s) is a setting of profiled serve" % (k, where))

sys.exit(1 if failed else 0)
