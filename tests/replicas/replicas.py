#!/usr/bin/env python3
"""replicas.py PROFILED_BIN -- several `profiled serve` processes on one
PostgreSQL, each in a data directory of its own with no file shared, on a
throwaway cluster this script starts (pgcluster.py) and removes.

  merges       three replicas take interleaved, merge-heavy message streams
               (anonymous -> identified, alias of a second device, two known
               profiles joined by alias, traits with older timestamps, a
               messageId retried on two replicas at once); every profile,
               trait, event and first/last event then reads the same as on one
               server that took the same messages one at a time in timestamp
               order
  stale        an id looked up on one replica and merged away on another is
               not stored to its old profile when it comes back to the first
  visibility   a write acknowledged by one replica is read at once on the others
  recompute    two replicas reloading new definitions at once recompute
               the profiles once between them
  tokens       a token made with `profiled token create` works on every
               replica; revoked, every replica refuses it within 2 s
  db-lost      PostgreSQL stopped under an ingest stream and started again:
               /readyz 503 and 503 JSON errors while it is away, every
               acknowledged event readable after, no restart needed
  kill         kill -9 of a replica under ingest loses nothing it acknowledged
  db-wait      unreachable at start: exit non-zero at once, or wait with
               --db-wait-s and serve once it is up

Counts, never times, decide, except the 2 s the token rule names (with
--token-reload-ms 200, a tenth of it)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
TENANT = ("c", "a", "b")
PREFIX = "/track/%s/%s/%s/v1" % TENANT
FAILED = []


def check(cond, what):
    if not cond:
        FAILED.append(what)
        print("FAIL: " + what, flush=True)
    return cond


SERVERS = []  # every process started, killed at the end whatever happened


class Server:
    def __init__(self, name, url, workdir, *flags, port=0):
        SERVERS.append(self)
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.err = open(os.path.join(self.dir, "stderr"), "a")
        args = [BIN, "serve", "--listen", "127.0.0.1:%d" % port, "--db", url, "--threads", "1", "--workers", "2",
                "--access-log", "off", "--token-reload-ms", "200", "--rate", "1000000", "--burst", "1000000",
                "--ingest-rate", "1000000", "--ingest-burst", "1000000"] + list(flags)
        self.proc = subprocess.Popen(args, cwd=self.dir, stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.proc.stdout.readline()
        if "listening on http://127.0.0.1:" not in line:
            self.proc.wait()
            raise SystemExit("%s did not start: %s" % (name, open(self.err.name).read()))
        self.port = int(line.split("127.0.0.1:")[1].split()[0])

    def req(self, method, path, body=None, token=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        h = {"content-type": "application/json"}
        if token is not None:
            h["auth-token"] = token
        r = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(r, timeout=timeout) as f:
                return f.status, f.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            return 0, str(e)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)
        self.err.close()


def token_create(url, *extra):
    r = subprocess.run([BIN, "token", "create", "--db", url, "--client", TENANT[0], "--account", TENANT[1], "--brand",
                        TENANT[2], "--permissions", "read,ingest,delete"] + list(extra),
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def wait_ready(servers, want=200, limit=30.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if all(s.req("GET", "/readyz", timeout=5)[0] == want for s in servers):
            return True
        time.sleep(0.05)
    return False


# ---- merges ----

T0 = 1767225600000  # 2026-01-01T00:00:00Z


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def group_messages(g):
    """One family of ids whose messages depend on each other's order: two
    devices, a user, a second known user joined to the first by alias."""
    u, ux, a, ab = "u%d" % g, "ux%d" % g, "a%d" % g, "ab%d" % g
    steps = [
        {"type": "track", "anonymousId": a, "event": "Page Viewed", "properties": {"path": "/"}},
        {"type": "identify", "anonymousId": a, "traits": {"plan": "free", "visits": 1}},
        {"type": "track", "anonymousId": ab, "event": "Product Viewed", "properties": {"sku": "s%d" % g}},
        {"type": "identify", "userId": u, "anonymousId": a, "traits": {"email": "%s@example.com" % u, "plan": "pro"}},
        {"type": "track", "userId": ux, "event": "Signed Up"},
        {"type": "identify", "userId": ux, "traits": {"company": "co%d" % g, "plan": "team"}},
        {"type": "alias", "previousId": ab, "userId": u},
        {"type": "alias", "previousId": ux, "userId": u},
        {"type": "track", "userId": u, "event": "Order Completed", "properties": {"total": g * 3 + 1}},
        # older than the identify that set plan=pro: must not win
        {"type": "identify", "anonymousId": a, "traits": {"plan": "enterprise"}, "at": -4},
        {"type": "page", "anonymousId": ab, "name": "Checkout"},
        {"type": "track", "userId": ux, "event": "Email Opened"},
        {"type": "identify", "userId": u, "traits": {"visits": 7}},
    ]
    out = []
    for k, m in enumerate(steps):
        m = dict(m)
        at = m.pop("at", 0)
        # groups interleave in time: step k of every group before step k+1 of any
        m["timestamp"] = iso(T0 + (k + at) * 60000 + g * 10)
        m["messageId"] = "g%d-s%d" % (g, k)
        out.append(m)
    return out


VOLATILE = {"id", "customerId", "_subscriptionId", "createdTime", "updatedTime", "receivedTime", "scrollId"}


def normalize(v):
    if isinstance(v, dict):
        return {k: normalize(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [normalize(x) for x in v if not (isinstance(x, dict) and x.get("type") == "id" and set(x) == {"type", "id"})]
    return v


def snapshot(server, token, groups):
    """Every view of every id of the groups, normalized, plus the number of
    profiles the tenant has."""
    snap = {}
    for g in groups:
        for ref in ("userId:u%d" % g, "userId:ux%d" % g, "anonymousId:a%d" % g, "anonymousId:ab%d" % g):
            for view in ("traits", "metadata", "external_ids", "audiences"):
                st, body = server.req("GET", "%s/profiles/%s/%s" % (PREFIX, ref, view), token=token)
                snap[(ref, view)] = (st, normalize(json.loads(body)))
            events, scroll = [], None
            while True:
                q = "?scrollId=" + scroll if scroll else "?limit=5&sort=asc"
                st, body = server.req("GET", "%s/profiles/%s/events%s" % (PREFIX, ref, q), token=token)
                page = json.loads(body)
                if st != 200 or not page.get("data"):
                    break
                events += page["data"]
                scroll = page.get("scrollId")
                if not scroll or len(page["data"]) < 5:
                    break
            snap[(ref, "events")] = normalize(events)
    n, page = 0, 0
    while True:
        st, body = server.req("GET", "%s/profiles?from=%d&size=100" % (PREFIX, page), token=token)
        data = json.loads(body).get("data", [])
        if not data:
            break
        n += len(data)
        page += 1
    snap["profiles"] = n
    return snap


def post(server, token, msg):
    return server.req("POST", PREFIX + "/batch", {"batch": [msg]}, token=token)


def test_merges(cluster, work):
    groups = range(int(os.environ.get("REPLICAS_GROUPS", "30")))
    url = cluster.createdb("merges")
    ref_url = cluster.createdb("merges_ref")
    tok, ref_tok = token_create(url), token_create(ref_url)
    reps = [Server("m%d" % i, url, work) for i in range(3)]
    ref = Server("ref", ref_url, work)
    statuses = {}
    lock = threading.Lock()

    def family(g):
        for k, m in enumerate(group_messages(g)):
            r = reps[(g + k) % 3]
            if k == 8 and g % 5 == 0:  # a retry of the same messageId on two replicas at once
                other = reps[(g + k + 1) % 3]
                t = threading.Thread(target=lambda: record(post(other, tok, m)[0]))
                t.start()
                record(post(r, tok, m)[0])
                t.join()
            else:
                record(post(r, tok, m)[0])

    def record(st):
        with lock:
            statuses[st] = statuses.get(st, 0) + 1

    threads = [threading.Thread(target=family, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(set(statuses) == {200}, "merges: every message acknowledged on the replicas (statuses %s)" % statuses)

    every = sorted((m for g in groups for m in group_messages(g)), key=lambda m: m["timestamp"])
    for m in every:
        st, body = post(ref, ref_tok, m)
        check(st == 200, "merges: reference server took %s (%d %s)" % (m["messageId"], st, body))

    got = snapshot(reps[0], tok, groups)
    want = snapshot(ref, ref_tok, groups)
    diffs = [k for k in want if got.get(k) != want[k]]
    for k in diffs[:5]:
        print("  %s\n   replicas: %s\n   one:      %s" % (k, json.dumps(got.get(k))[:600], json.dumps(want[k])[:600]))
    check(not diffs, "merges: replicas' state equals one server's (%d of %d views differ)" % (len(diffs), len(want)))
    check(want["profiles"] == len(groups), "merges: one profile per family (%d for %d)" % (want["profiles"], len(groups)))
    # the same answers on every replica
    for r in reps[1:]:
        check(snapshot(r, tok, groups[:5]) == snapshot(reps[0], tok, groups[:5]), "merges: %s answers as m0" % r.name)
    # the retried messageId is stored once
    st, body = reps[1].req("GET", PREFIX + "/profiles/userId:u5/events?limit=100", token=tok)
    ids = [e["eventId"] for e in json.loads(body).get("data", [])] if st == 200 else []
    check(st == 200, "merges: events of userId:u5 (%d %s)" % (st, body))
    check(ids.count("g5-s8") == 1, "merges: a messageId sent to two replicas at once is stored once (%d)" % ids.count("g5-s8"))
    shared = sum(metric(r, "profiled_writer_shared_groups_total") for r in reps)
    retried = sum(metric(r, "profiled_writer_shared_retried_total") for r in reps)
    check(shared > 0, "merges: groups stored under the shared write lock (%d)" % shared)
    check(0 < retried <= shared, "merges: the merging groups stored again exclusively (%d of %d)" % (retried, shared))
    print("merges: %d families, %d messages over 3 replicas; %d views compared; %d groups shared, %d retried" %
          (len(groups), len(every), len(want), shared, retried))
    ref.stop()
    return reps, tok


def test_stale_identity(reps, tok):
    """An id one replica has looked up, merged away by another, then used
    again on the first: the first must not store to the merged-away profile
    (each replica's identity cache is emptied when another replica wrote)."""
    a, b = reps[0], reps[1]
    steps = [(a, {"type": "track", "anonymousId": "st-a", "event": "X"}),
             (b, {"type": "identify", "userId": "st-ux", "traits": {"k": 1}}),
             (a, {"type": "track", "userId": "st-ux", "event": "Y"}),
             (b, {"type": "identify", "userId": "st-u", "anonymousId": "st-a"}),
             (b, {"type": "alias", "previousId": "st-ux", "userId": "st-u"}),
             (a, {"type": "track", "userId": "st-ux", "event": "Z"})]
    for k, (r, m) in enumerate(steps):
        m["timestamp"] = iso(T0 + k * 1000)
        m["messageId"] = "st-%d" % k
        st, body = post(r, tok, m)
        check(st == 200, "stale identity: step %d (%d %s)" % (k, st, body))
    st, body = b.req("GET", PREFIX + "/profiles/userId:st-u/events", token=tok)
    actions = sorted(e["eventAction"] for e in json.loads(body).get("data", []))
    check(actions == ["x", "y", "z"], "stale identity: every event on the merged profile (%s)" % actions)


def test_concurrent(reps, tok, url):
    """Writers of two replicas run at once: while another session holds the
    row of user A's profile, a batch for A waits on replica 0, and one for
    user B on replica 1 is stored meanwhile (under one write lock for all
    replicas, it would wait for A's). Then A's is stored too."""
    a, b = reps[0], reps[1]
    for k, (r, user) in enumerate([(a, "cc-a"), (b, "cc-b")]):
        st, body = post(r, tok, {"type": "identify", "userId": user, "traits": {"k": 0}, "messageId": "cc-init-%d" % k})
        check(st == 200, "concurrent: %s created (%d %s)" % (user, st, body))
    psql = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    psql.stdin.write("BEGIN; SELECT 'locked ' || pk FROM profiles WHERE user_id = 'cc-a' FOR UPDATE;\n")
    psql.stdin.flush()
    line = psql.stdout.readline()
    check(line.startswith("locked"), "concurrent: a session holds A's row (%r)" % line)
    res = {}
    ta = threading.Thread(target=lambda: res.update(a=post(a, tok, {"type": "track", "userId": "cc-a", "event": "A",
                                                                    "messageId": "cc-a-1"})))
    ta.start()
    time.sleep(0.5)
    check(ta.is_alive(), "concurrent: the batch for A waits on its row")
    st, body = post(b, tok, {"type": "track", "userId": "cc-b", "event": "B", "messageId": "cc-b-1"})
    check(st == 200 and ta.is_alive(), "concurrent: B stored on the other replica while A waits (%d %s)" % (st, body))
    psql.stdin.write("COMMIT;\n")
    psql.stdin.close()
    psql.wait(timeout=30)
    ta.join(timeout=30)
    check(res.get("a", (0,))[0] == 200, "concurrent: A stored once its row is free (%s)" % (res.get("a"),))
    for r, user, ev in [(b, "cc-a", "a"), (a, "cc-b", "b")]:
        st, body = r.req("GET", PREFIX + "/profiles/userId:%s/events" % user, token=tok)
        acts = [e["eventAction"] for e in json.loads(body).get("data", [])] if st == 200 else []
        check(acts == [ev], "concurrent: %s's event readable on %s (%s)" % (user, r.name, acts))


# ---- visibility ----

def metric(server, name):
    st, body = server.req("GET", "/metrics")
    for line in body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return -1


def test_visibility(reps, tok):
    """Each replica caches the view (a second read is a hit), then another
    replica changes it: read at once on the writer, within 1 s on the
    others (their caches learn of it from the notification)."""
    n = 30
    path = "%s/profiles/userId:vis/traits" % PREFIX
    post(reps[0], tok, {"type": "identify", "userId": "vis", "traits": {"n": -1}, "messageId": "vis-start"})
    own_misses, lags = 0, []
    hits0 = sum(metric(r, "profiled_cache_hits_total") for r in reps)
    for i in range(n):
        for r in reps:  # fill every replica's cache, and hit it
            r.req("GET", path, token=tok)
            r.req("GET", path, token=tok)
        w = reps[i % 3]
        st, _ = post(w, tok, {"type": "identify", "userId": "vis", "traits": {"n": i}, "messageId": "vis-%d" % i})
        check(st == 200, "visibility: write %d acknowledged" % i)
        t0 = time.monotonic()
        st, body = w.req("GET", path, token=tok)
        if st != 200 or json.loads(body).get("n") != i:
            own_misses += 1
        for r in reps:
            if r is w:
                continue
            while True:
                st, body = r.req("GET", path, token=tok)
                if st == 200 and json.loads(body).get("n") == i:
                    lags.append(time.monotonic() - t0)
                    break
                if time.monotonic() - t0 > 5:
                    lags.append(99.0)
                    break
                time.sleep(0.001)
    hits = sum(metric(r, "profiled_cache_hits_total") for r in reps) - hits0
    lags.sort()
    check(own_misses == 0, "visibility: every write read at once on the replica that took it (%d stale of %d)" % (own_misses, n))
    check(lags[-1] <= 1.0, "visibility: every write read within 1 s on the other replicas (worst %.3f s)" % lags[-1])
    check(hits >= 3 * n, "visibility: the reads in between were cache hits (%d hits)" % hits)
    print("visibility: %d writes through cached views: stale on the writer %d; on the other two, lag median %.1f ms,"
          " worst %.1f ms; %d cache hits" % (n, own_misses, 1000 * lags[len(lags) // 2], 1000 * lags[-1], hits))


# ---- tokens ----

def test_tokens(reps, url):
    tok = token_create(url, "--name", "revoke-me")
    path = PREFIX + "/profiles/userId:u1/traits"
    ok = False
    end = time.monotonic() + 10
    while time.monotonic() < end and not ok:
        ok = all(r.req("GET", path, token=tok)[0] == 200 for r in reps)
        time.sleep(0.02)
    check(ok, "tokens: a token made by the CLI works on every replica")
    tid = tok.split("_")[1]
    subprocess.run([BIN, "token", "revoke", "--db", url, tid], check=True, capture_output=True)
    t0 = time.monotonic()
    refused = [None] * len(reps)
    while time.monotonic() - t0 < 10 and None in refused:
        for i, r in enumerate(reps):
            if refused[i] is None and r.req("GET", path, token=tok)[0] == 401:
                refused[i] = time.monotonic() - t0
        time.sleep(0.02)
    worst = max(x if x is not None else 99 for x in refused)
    check(worst <= 2.0, "tokens: revoked token refused on every replica within 2 s (worst %.2f s)" % worst)
    print("tokens: revoke seen by 3 replicas after %s s (--token-reload-ms 200)" % ", ".join("%.2f" % (x or 99) for x in refused))


# ---- behind nginx ----

class Nginx:
    def __init__(self, work, ports):
        self.dir = os.path.join(work, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.port = pgcluster.free_port()
        d = self.dir
        servers = "".join(" server 127.0.0.1:%d max_fails=0;" % p for p in ports)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            text = ("daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
                    "events { worker_connections 1024; }\nhttp {\n  access_log off;\n"
                    "  client_body_temp_path %s/body; proxy_temp_path %s/proxy; fastcgi_temp_path %s/fcgi;\n"
                    "  uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;\n"
                    # as deploy/nginx.conf: one replica per token, the next while it restarts
                    "  upstream profiled { hash $http_auth_token consistent;%s keepalive 32; }\n"
                    "  server {\n    listen 127.0.0.1:%d;\n    location / {\n      proxy_pass http://profiled;\n"
                    "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n"
                    "      proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;\n"
                    "      proxy_next_upstream_tries 3;\n    }\n  }\n}\n") % (d, d, d, d, d, d, d, servers, self.port)
            f.write(("user root;\n" if os.geteuid() == 0 else "") + text)
        self.proc = subprocess.Popen(["nginx", "-p", d, "-c", conf, "-e", "stderr"], stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket_ok = urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port, timeout=2).status
                if socket_ok == 200:
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise SystemExit("nginx did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def burst(port, tok, n, conns=50):
    """n GET traits at once with one token over conns keep-alive
    connections; the answers' statuses counted."""
    import http.client
    counts = {}
    lock = threading.Lock()
    per = [n // conns + (1 if i < n % conns else 0) for i in range(conns)]
    go = threading.Barrier(conns)

    def one(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        go.wait()
        for _ in range(k):
            try:
                c.request("GET", PREFIX + "/profiles/userId:u1/traits", headers={"auth-token": tok})
                r = c.getresponse()
                r.read()
                st = r.status
            except (OSError, http.client.HTTPException):
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                st = 0
            with lock:
                counts[st] = counts.get(st, 0) + 1
        c.close()

    threads = [threading.Thread(target=one, args=(k,)) for k in per]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts, time.monotonic() - t0


class Load(threading.Thread):
    """GET traits through nginx without pause until told to stop."""

    def __init__(self, port, tok):
        super().__init__()
        self.port, self.tok = port, tok
        self.ok, self.failed, self.first_failure = 0, 0, None
        self.halt = threading.Event()

    def run(self):
        srv = Server.__new__(Server)
        srv.port = self.port
        while not self.halt.is_set():
            st, body = srv.req("GET", PREFIX + "/profiles/userId:u1/traits", token=self.tok, timeout=30)
            if st == 200:
                self.ok += 1
            else:
                self.failed += 1
                self.first_failure = self.first_failure or (st, body)


def test_nginx(cluster, work, url):
    ports = [pgcluster.free_port() for _ in range(3)]
    flags = ("--drain-delay", "0.5")
    reps = [Server("n%d" % i, url, work, *flags, port=p) for i, p in enumerate(ports)]
    ng = Nginx(work, ports)
    try:
        # 1,500 at once with one token of 100 rps / burst 500
        limited = token_create(url, "--name", "limited", "--rate", "100", "--burst", "500")
        wait_token(reps, limited)
        counts, secs = burst(ng.port, limited, 1500)
        ok = counts.get(200, 0)
        allowed = 500 + 100 * secs + 5
        check(ok <= allowed and counts.get(429, 0) > 0 and set(counts) <= {200, 429},
              "nginx: 1,500 at once with one token admit at most 500 plus refill (%s in %.2f s; at most %d)" % (counts, secs, allowed))
        print("nginx: 1,500 at once, one token (100 rps, burst 500), 3 replicas: %s in %.2f s (at most %d allowed)"
              % (counts, secs, allowed))
        # the replica that holds the token's bucket (the one that answered the 429s) goes away: the
        # next one starts a bucket of its own
        owner = [r for r in reps if limited_count(r) > 0]
        check(len(owner) == 1, "nginx: one replica holds the token's bucket (%d do)" % len(owner))
        if len(owner) == 1:
            o = owner[0]
            o.stop()
            counts2, secs2 = burst(ng.port, limited, 1500)
            print("nginx: its replica stopped, 1,500 more at once: %s in %.2f s (a fresh burst on the next replica)"
                  % (counts2, secs2))
            check(counts2.get(200, 0) <= 500 + 100 * secs2 + 1 + 100 * secs,
                  "nginx: after its replica went away, one fresh burst at most (%s)" % counts2)
            reps[reps.index(o)] = Server(o.name, url, work, *flags, port=o.port)
        # rolling SIGTERM restart under continuous load: no request fails
        free = token_create(url, "--name", "load")
        wait_token(reps, free)
        loads = [Load(ng.port, free) for _ in range(4)]
        for ld in loads:
            ld.start()
        time.sleep(0.3)
        for i, r in enumerate(reps):
            r.stop()
            reps[i] = Server(r.name, url, work, *flags, port=r.port)
            check(wait_ready([reps[i]]), "nginx: %s ready after its restart" % r.name)
            time.sleep(0.3)
        for ld in loads:
            ld.halt.set()
        for ld in loads:
            ld.join()
        ok = sum(ld.ok for ld in loads)
        failed = sum(ld.failed for ld in loads)
        first = next((ld.first_failure for ld in loads if ld.first_failure), None)
        check(failed == 0 and ok > 0, "nginx: rolling restart of 3 replicas, 0 failed (%d ok, %d failed: %s)" % (ok, failed, first))
        print("nginx: rolling SIGTERM restart of 3 replicas under load: %d requests, %d failed" % (ok, failed))
        # a scroll begun on one replica continues on the others
        for k in range(12):
            post(reps[k % 3], free, {"type": "track", "userId": "scroller", "event": "E%d" % k,
                                     "timestamp": iso(T0 + k * 1000), "messageId": "scroll-%d" % k})
        whole = json.loads(reps[0].req("GET", PREFIX + "/profiles/userId:scroller/events", token=free)[1])["data"]
        pages, scroll = [], None
        for k in range(4):
            q = "?scrollId=" + scroll if scroll else "?limit=5"
            page = json.loads(reps[k % 3].req("GET", PREFIX + "/profiles/userId:scroller/events" + q, token=free)[1])
            pages += page.get("data", [])
            scroll = page.get("scrollId")
        check([e["eventId"] for e in pages] == [e["eventId"] for e in whole] and len(whole) == 12,
              "nginx: a scroll begun on one replica continues on the other two (%d of %d)" % (len(pages), len(whole)))
    finally:
        ng.stop()
        for r in reps:
            r.stop()


def limited_count(server):
    st, body = server.req("GET", "/metrics")
    for line in body.splitlines():
        if line.startswith("profiled_rate_limited_total "):
            return int(line.split()[1])
    return -1


def wait_token(reps, tok):
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if all(r.req("GET", "%s/profiles/userId:nobody/traits" % PREFIX, token=tok)[0] == 404 for r in reps):
            return True
        time.sleep(0.05)
    return check(False, "a new token works on every replica")


# ---- definitions ----

def defs_text(computed):
    return json.dumps({"tenants": [{"client": TENANT[0], "account": TENANT[1], "brand": TENANT[2],
                                    "computedTraits": computed, "audiences": []}]})


def test_recompute(cluster, work):
    """Two replicas reload new definitions at once (SIGHUP): the profiles
    are recomputed once between them, not once each, and both answer the
    new computed trait."""
    url = cluster.createdb("recompute")
    tok = token_create(url)
    path = os.path.join(work, "defs.json")
    with open(path, "w") as f:
        f.write(defs_text([]))
    a, b = Server("ra", url, work, "--definitions", path), Server("rb", url, work, "--definitions", path)
    users = 1500
    for start in range(0, users, 150):
        batch = [{"type": "track", "userId": "rc%d" % u, "event": "Opened", "messageId": "rc-%d-%d" % (u, k)}
                 for u in range(start, start + 150) for k in range(2)]
        st, body = a.req("POST", PREFIX + "/batch", {"batch": batch}, token=tok)
        check(st == 200, "recompute: ingest (%d %s)" % (st, body))
    with open(path, "w") as f:
        f.write(defs_text([{"name": "opens", "kind": "count", "eventAction": "opened"}]))
    def completes():
        return [open(os.path.join(s.dir, "stderr")).read().count("recompute: complete") for s in (a, b)]

    before = completes()
    a.proc.send_signal(signal.SIGHUP)
    b.proc.send_signal(signal.SIGHUP)
    end = time.monotonic() + 120
    while time.monotonic() < end and not all(n > m for n, m in zip(completes(), before)):
        time.sleep(0.1)
    check(all(n > m for n, m in zip(completes(), before)), "recompute: both replicas finished after the reload")
    done = [metric(s, 'profiled_recompute_profiles{state="done"}') for s in (a, b)]
    check(sum(done) <= users + 500, "recompute: %d profiles recomputed once between two replicas, not twice (%s)" % (users, done))
    for s in (a, b):
        st, body = s.req("GET", PREFIX + "/profiles/userId:rc%d/traits" % (users - 1), token=tok)
        check(st == 200 and json.loads(body).get("computed", {}).get("opens") == 2,
              "recompute: %s answers the new computed trait (%d %s)" % (s.name, st, body))
    print("recompute: %d profiles, two replicas reloading at once recomputed %s (sum %d)" % (users, done, sum(done)))
    a.stop()
    b.stop()


# ---- faults ----

class Sender(threading.Thread):
    """Posts one event at a time, round robin over servers, until told to
    stop; keeps every acknowledged messageId and counts the answers."""

    def __init__(self, servers, tok, tag, users=10):
        super().__init__()
        self.servers, self.tok, self.tag, self.users = servers, tok, tag, users
        self.acked, self.statuses, self.bodies = [], {}, {}
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            mid = "%s-%d" % (self.tag, i)
            s = self.servers[i % len(self.servers)]
            st, body = post(s, self.tok, {"type": "track", "userId": "%s-u%d" % (self.tag, i % self.users),
                                          "event": "Tick", "messageId": mid})
            self.statuses[st] = self.statuses.get(st, 0) + 1
            self.bodies.setdefault(st, body)
            if st == 200:
                self.acked.append(mid)
            i += 1
            if st != 200:
                time.sleep(0.01)


def stored_events(server, tok, tag, users):
    ids = set()
    for u in range(users):
        scroll = None
        while True:
            q = "?scrollId=" + scroll if scroll else "?limit=100"
            st, body = server.req("GET", "%s/profiles/userId:%s-u%d/events%s" % (PREFIX, tag, u, q), token=tok)
            if not check(st == 200, "reading events of %s-u%d: %d %s" % (tag, u, st, body)):
                break
            page = json.loads(body)
            ids.update(e["eventId"] for e in page.get("data", []))
            scroll = page.get("scrollId")
            if len(page.get("data", [])) < 100 or not scroll:
                break
    return ids


def test_db_lost(cluster, work):
    url = cluster.createdb("faults")
    tok = token_create(url)
    a, b = Server("fa", url, work), Server("fb", url, work)
    s = Sender([a, b], tok, "lost")
    s.start()
    time.sleep(1.0)
    before = len(s.acked)
    cluster.stop("fast")
    down = wait_ready([a, b], 503, 15)
    check(down, "db-lost: /readyz answers 503 on both replicas while PostgreSQL is away")
    time.sleep(0.5)
    cluster.start()
    up = wait_ready([a, b], 200, 30)
    check(up, "db-lost: both replicas ready again without a restart")
    mark = len(s.acked)
    end = time.monotonic() + 20
    while len(s.acked) < mark + 20 and time.monotonic() < end:
        time.sleep(0.05)
    s.halt.set()
    s.join()
    check(len(s.acked) >= mark + 20, "db-lost: ingest acknowledged again after PostgreSQL came back")
    check(set(s.statuses) <= {200, 503}, "db-lost: only 200 and 503 answered (%s)" % s.statuses)
    check(s.statuses.get(503, 0) > 0, "db-lost: requests while it was away got 503 (%s)" % s.statuses)
    body = s.bodies.get(503, "{}")
    check(json.loads(body).get("error", {}).get("message", "").startswith("The database is not reachable"),
          "db-lost: the 503 is a JSON error naming the database: %s" % body)
    stored = stored_events(b, tok, "lost", s.users)
    lost = [m for m in s.acked if m not in stored]
    check(not lost, "db-lost: every acknowledged event readable afterwards (%d of %d missing: %s)" % (len(lost), len(s.acked), " ".join(lost[:20])))
    check(a.proc.poll() is None and b.proc.poll() is None, "db-lost: both replicas still running")
    print("db-lost: %d acknowledged (%d before the stop), answers %s; %d missing" % (len(s.acked), before, s.statuses, len(lost)))
    a.stop()
    b.stop()
    return url, tok


def test_kill(url, tok, work):
    a, b = Server("ka", url, work), Server("kb", url, work)
    s = Sender([a], tok, "kill")
    s.start()
    end = time.monotonic() + 20
    while len(s.acked) < 50 and time.monotonic() < end:
        time.sleep(0.02)
    a.proc.kill()
    a.proc.wait()
    time.sleep(0.2)
    s.halt.set()
    s.join()
    stored = stored_events(b, tok, "kill", s.users)
    lost = [m for m in s.acked if m not in stored]
    check(len(s.acked) >= 50 and not lost,
          "kill: every event the killed replica acknowledged is read on the other (%d of %d missing)" % (len(lost), len(s.acked)))
    print("kill: %d acknowledged by the replica before kill -9; %d missing" % (len(s.acked), len(lost)))
    a.err.close()
    b.stop()


def test_db_wait(cluster, url, work):
    cluster.stop("fast")
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--db", url, "--access-log", "off"], cwd=work,
                       capture_output=True, text=True, timeout=60)
    check(r.returncode != 0 and "cannot connect to PostgreSQL" in r.stderr,
          "db-wait: unreachable at start exits non-zero with a clear error (%d: %s)" % (r.returncode, r.stderr.strip()[-200:]))
    # SIGTERM while it waits ends the wait at once, exit 1 with the reason
    q = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", url, "--access-log", "off", "--db-wait-s", "60"],
                         cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    q.terminate()
    qerr = q.communicate(timeout=10)[1]
    check(q.returncode == 1 and "SIGTERM while waiting for the database" in qerr,
          "db-wait: SIGTERM ends the wait (%s: %s)" % (q.returncode, qerr.strip()[-200:]))
    out = open(os.path.join(work, "wait.out"), "w+")
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", url, "--access-log", "off", "--db-wait-s", "60"],
                         cwd=work, stdout=out, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    check(p.poll() is None, "db-wait: --db-wait-s keeps trying")
    cluster.start()
    end = time.monotonic() + 30
    while time.monotonic() < end and "listening on" not in open(out.name).read():
        time.sleep(0.05)
    check("listening on" in open(out.name).read(), "db-wait: serves once PostgreSQL is up")
    p.terminate()
    err = p.communicate(timeout=60)[1]
    check("--db-wait-s" in err, "db-wait: said it is waiting: %s" % err.strip()[:200])
    out.close()


def main():
    work = tempfile.mkdtemp(prefix="profiled-replicas-")
    cluster = pgcluster.Cluster()
    try:
        reps, tok = test_merges(cluster, work)
        test_stale_identity(reps, tok)
        test_concurrent(reps, tok, cluster.url("merges"))
        test_visibility(reps, tok)
        test_tokens(reps, cluster.url("merges"))
        for r in reps:
            r.stop()
        test_nginx(cluster, work, cluster.url("merges"))
        test_recompute(cluster, work)
        url, tok = test_db_lost(cluster, work)
        test_kill(url, tok, work)
        test_db_wait(cluster, url, work)
    except Exception:
        FAILED.append("exception")
        raise
    finally:
        for r in SERVERS:
            if getattr(r, "proc", None) is not None and r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()
        if FAILED:
            print("PostgreSQL's log (last lines):\n" + cluster.tail())
        cluster.remove()
        if FAILED:
            for name in sorted(os.listdir(work)):
                path = os.path.join(work, name, "stderr")
                if os.path.exists(path):
                    print("--- %s's stderr (last lines):\n%s" % (name, "".join(open(path).readlines()[-8:])))
        shutil.rmtree(work, ignore_errors=True)
    if FAILED:
        print("%d failed" % len(FAILED))
        sys.exit(1)
    print("replicas: all passed")


if __name__ == "__main__":
    main()
