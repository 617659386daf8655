"""A throwaway PostgreSQL 15 cluster for one test: initdb and pg_ctl in a
temp dir, on a free port of 127.0.0.1 (as the `postgres` user when run as
root: initdb refuses root), never a system service. stop() and start()
take it away and bring it back under a running test; remove() deletes it."""

import os
import shutil
import socket
import subprocess
import tempfile

BIN = "/usr/lib/postgresql/15/bin"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    def __init__(self):
        if not os.access(os.path.join(BIN, "initdb"), os.X_OK):
            raise SystemExit("pgcluster: %s/initdb missing: sh scripts/install-deps.sh installs postgresql-15" % BIN)
        self.dir = tempfile.mkdtemp(prefix="profiled-pgc-")
        self.run = []
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.run = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "log")
        self._pg("initdb", "-D", self.data, "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self.start()

    def _pg(self, tool, *args):
        r = subprocess.run(self.run + [os.path.join(BIN, tool)] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s%s%s" % (tool, r.stdout, r.stderr, self.tail()))

    def tail(self, n=30):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def start(self):
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
                " -c dynamic_shared_memory_type=mmap" % (self.port, self.dir))
        self._pg("pg_ctl", "-D", self.data, "-w", "-l", self.log, "-o", opts, "start")

    def stop(self, mode="fast"):
        self._pg("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def url(self, db="postgres"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def createdb(self, name):
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def remove(self):
        try:
            self.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
