"""A throwaway PostgreSQL 15 cluster for one test, through
scripts/pg-cluster.sh (initdb and pg_ctl in a temp dir, a free port of
127.0.0.1, never a system service). stop() and start() take it away and
bring it back under a running test; remove() deletes it."""

import os
import socket
import subprocess
import tempfile

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "pg-cluster.sh")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="profiled-pgc-")
        self.log = os.path.join(self.dir, "log")
        self.port = int(self._run("init"))

    def _run(self, *args):
        r = subprocess.run(["sh", SCRIPT, args[0], self.dir] + list(args[1:]), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("pg-cluster.sh %s failed: %s%s" % (args[0], r.stdout, r.stderr))
        return r.stdout.strip()

    def tail(self, n=30):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def start(self):
        self._run("start")

    def stop(self, mode="fast"):
        self._run("stop", mode)

    def url(self, db="postgres"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def createdb(self, name):
        return self._run("createdb", name)

    def remove(self):
        self._run("remove")
