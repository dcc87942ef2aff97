#!/usr/bin/python3
"""One worker process of tests/soak.py: psctl.Client pushes of small
integers, with a journal that survives SIGKILL, so that a worker killed
mid-push and started again resumes its identity and sends the unanswered
push again with the same sequence number.

    soak-worker.py DIR K SLOTS QUOTA

Worker K pushes to tensor "wK" (SLOTS float32 elements): push number SEQ
adds 1 to element SEQ % SLOTS and nothing elsewhere, so the model holds,
per worker and per residue of SEQ, how often the server applied such a
push: small integers, exact in float32.  It stops when QUOTA pushes were
acknowledged (counting those of earlier lives) or DIR/stop exists, and
exits 0; anything unexpected exits 1 with the reason on stderr, and so
does a worker whose soak.py went away.

The server's URL is DIR/url ("GENERATION URL"): soak.py rewrites it when
it restarts the server (on a new port, with a new generation).

DIR/journal.K, appended with one write(2) per line (the kernel keeps it
when the process is killed):
    C ID SECRET GEN   the worker's identity from here on (SECRET "-" when
                      the server sent no resume secret)
    P SEQ             push SEQ is about to be sent
    A SEQ             push SEQ was acknowledged: applied exactly once
    X SEQ             push SEQ is ambiguous: the worker could not resume
                      its identity while it was unanswered (the server
                      restarted), so it was applied once or not at all
    R SEQ             push SEQ was refused with an error (shutdown): it
                      must not have been applied
    T SEQ             a new life resumed the identity and sends the
                      unanswered push SEQ again
A P without its outcome is the push a killed worker was in; the next life
resolves it first.

Resuming: the saved identity is a psctl.Identity (worker id, resume
secret, push sequence), given to the new life's client; the unanswered
push goes out again with push(..., seq=SEQ).  A restarted server does not
know the old secrets, so a worker is resumed only by the server
generation that made it.
"""

import os
import sys
import time

import numpy as np

from psctl import Client, Identity
from psctl.errors import AuthError, ConnectError, ResumeError, ShutdownError


def read_url(d):
    with open(os.path.join(d, "url")) as f:
        gen, url = f.read().split()
    return int(gen), url


class SoakClient(Client):
    """psctl.Client that follows DIR/url, where soak.py puts the server it
    restarts (on a new port), and remembers the generation it is on."""

    def __init__(self, d, **kw):
        self._dir = d
        self.gen, url = read_url(d)
        super().__init__(url, **kw)

    def _connect(self, pending_push=False):
        self.gen, self.url = read_url(self._dir)
        return super()._connect(pending_push)


class Journal:
    def __init__(self, path):
        self.ident = None               # (id, secret, gen)
        self.seq = 0                    # highest seq sent
        self.pending = None
        self.acked = 0
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    if not line.endswith("\n"):
                        break           # never happens: one write a line
                    w = line.split()
                    if w[0] == "C":
                        self.ident = (int(w[1]), w[2], int(w[3]))
                    elif w[0] == "P":
                        self.seq = int(w[1])
                        self.pending = self.seq
                    elif w[0] in "AXR":
                        self.pending = None
                        self.acked += w[0] == "A"
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, *words):
        os.write(self.fd, (" ".join(str(w) for w in words) + "\n").encode())


def main():
    d, k, slots, quota = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4])
    name = "w%d" % k
    j = Journal(os.path.join(d, "journal.%d" % k))
    saved = None
    if j.ident is not None:
        wid, secret, gen = j.ident
        if secret != "-" and gen == read_url(d)[0]:
            saved = Identity(read_url(d)[1], wid, secret, j.seq)
    # Retries outlast a server restart (the back-off doubles to 64 times
    # 0.02 s); the timeout only bounds a hang.
    # The first hello has no retries of its own: the server may be
    # restarting.
    for attempt in range(1000):
        try:
            if saved is not None:
                saved = saved._replace(url=read_url(d)[1])
            c = SoakClient(d, identity=saved, name="soak-%d" % k,
                           timeout=300, retries=1000, backoff=0.02)
            break
        except AuthError:
            raise
        except ConnectError:
            time.sleep(0.02 * (1 << min(attempt, 6)))
    else:
        raise ConnectError(read_url(d)[1], "no server")
    ident = None
    upd = np.zeros(slots, dtype=np.float32)
    stop = os.path.join(d, "stop")

    def note_identity():
        nonlocal ident
        me = c.identity
        cur = (me.worker_id, me.secret, c.gen)
        if cur != ident:
            ident = cur
            j.write("C", me.worker_id,
                    "-" if me.secret is None else me.secret, c.gen)

    def push(seq):
        """Pushes seq."""
        upd[seq % slots] = 1.0
        try:
            c.push({name: upd}, seq=seq)
            j.write("A", seq)
            j.acked += 1
        except ResumeError:
            j.write("X", seq)
        except ShutdownError:
            j.write("R", seq)
        upd[seq % slots] = 0.0
        note_identity()

    if j.pending is not None:
        # The push a killed life left unanswered: resumed, it is sent
        # again with its number (the server applies it once in all);
        # not resumed, it may or may not have been applied.
        if c.resumed:
            j.write("T", j.pending)
            push(j.pending)
        else:
            j.write("X", j.pending)
    note_identity()
    parent = os.getppid()
    while j.acked < quota and not os.path.exists(stop):
        if os.getppid() != parent:
            return 1                    # soak.py is gone
        seq = max(c.identity.seq, j.seq) + 1
        j.seq = seq
        j.write("P", seq)
        push(seq)
    c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
