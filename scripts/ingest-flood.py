#!/usr/bin/env python3
"""ingest-flood.py -- one tenant floods /v1/batch while another sends a
one-event batch every 100 ms; prints the flood's batch times and the quiet
tenant's latency (docs/BENCHMARKS.md, "Ingest under a flood").

  scripts/ingest-flood.py build/profiled                      # 8 sequential batches, one shared email
  scripts/ingest-flood.py build/profiled --connections 8 --seconds 20 [--kind track] [-- SERVE FLAGS]

The flood's messages: 1,000 identifies a batch with new userIds and one
placeholder email (--kind email, the default), or 1,000 track events over
5,000 userIds (--kind track). Starts its own server on 127.0.0.1 over a
temporary database; nothing else is touched."""
import argparse, http.client, json, os, re, subprocess, sys, tempfile, threading, time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profiled")
    ap.add_argument("--connections", type=int, default=1, help="flood connections (1: sequential batches)")
    ap.add_argument("--batches", type=int, default=8, help="with one connection: batches sent")
    ap.add_argument("--seconds", type=float, default=20, help="with several connections: how long")
    ap.add_argument("--kind", choices=["email", "track"], default="email")
    argv = sys.argv[1:]
    serve_args = argv[argv.index("--") + 1:] if "--" in argv else []
    a = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    tmp = tempfile.mkdtemp(prefix="ingest-flood-")
    db = os.path.join(tmp, "flood.db")

    def token(client):
        return subprocess.check_output([a.profiled, "token", "create", "--db", db, "--client", client, "--account", "a",
                                        "--brand", "b"]).decode().strip()

    flood_tok, quiet_tok = token("flood"), token("quiet")
    srv = subprocess.Popen([a.profiled, "serve", "--listen", "127.0.0.1:0", "--db", db, "--access-log", "off",
                            "--ingest-rate", "1000000", "--ingest-burst", "1000000"] + serve_args,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    port = None
    while port is None:
        line = srv.stdout.readline().decode()
        if not line:
            sys.exit("profiled did not start")
        m = re.search(r"listening on \S*:(\d+)", line)
        port = int(m.group(1)) if m else None
    threading.Thread(target=lambda: [None for _ in srv.stdout], daemon=True).start()

    def post(conn, tenant, tok, body):
        t0 = time.time()
        conn.request("POST", "/track/%s/a/b/v1/batch" % tenant, body=body,
                     headers={"auth-token": tok, "content-type": "application/json"})
        r = conn.getresponse()
        r.read()
        return r.status, time.time() - t0

    lock, next_id, flood, quiet = threading.Lock(), [0], [], []
    done = threading.Event()
    deadline = time.time() + a.seconds

    def batch():
        with lock:
            base = next_id[0]
            next_id[0] += 1000
        if a.kind == "track":
            msgs = [{"type": "track", "userId": "u%d" % ((base + i) % 5000), "event": "Flood"} for i in range(1000)]
        else:
            msgs = [{"type": "identify", "userId": "u%d" % (base + i), "traits": {"email": "placeholder@example.com"}}
                    for i in range(1000)]
        return json.dumps({"batch": msgs})

    def flood_loop(sequential):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        k = 0
        while (k < a.batches) if sequential else (time.time() < deadline):
            status, took = post(c, "flood", flood_tok, batch())
            flood.append((status, took))
            if sequential:
                print("batch %d: %d in %.3f s" % (k, status, took), flush=True)
            k += 1

    def quiet_loop():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = 0
        while not done.is_set():
            body = json.dumps({"batch": [{"type": "track", "userId": "q%d" % i, "event": "Ping"}]})
            quiet.append(post(c, "quiet", quiet_tok, body))
            i += 1
            time.sleep(0.1)

    q = threading.Thread(target=quiet_loop)
    q.start()
    floods = [threading.Thread(target=flood_loop, args=(a.connections == 1,)) for _ in range(a.connections)]
    for t in floods:
        t.start()
    for t in floods:
        t.join()
    done.set()
    q.join()
    srv.terminate()
    srv.wait()

    def summary(rows):
        times = sorted(t for _, t in rows)
        codes = {}
        for s, _ in rows:
            codes[s] = codes.get(s, 0) + 1
        if not times:
            return "none"
        return "%d requests %s, p50 %.3f s, p99 %.3f s, max %.3f s" % (
            len(times), codes, times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))], times[-1])

    print("flood: " + summary(flood))
    print("quiet tenant: " + summary(quiet))
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
