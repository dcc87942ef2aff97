#!/usr/bin/python3
"""Tokens for each role, on the worker protocol, the control protocol and
/metrics; then TLS with a throwaway CA made by the openssl command: wss://
and https:// verified with --ca-file, refused without it.
"""

import os
import shutil
import signal
import subprocess

import pstest as T

T.require("numpy", "websocket")
import psproto as P  # noqa: E402
import websocket  # noqa: E402

T.plan(24)
d = T.tmpdir()
WTOK = "worker-0123456789abcdef"
OTOK = "operator-0123456789abcdef"
wfile = T.write_token(d, "worker.token", WTOK)
ofile = T.write_token(d, "operator.token", OTOK)

srv = T.Server("--token-file", wfile, "--operator-token-file", ofile)


def handshake_status(url, token, protocol):
    """The HTTP status a WebSocket handshake gets (101 when accepted)."""
    try:
        ws = P.connect(url, token=token, protocol=protocol)
        ws.close()
        return 101
    except websocket.WebSocketBadStatusException as e:
        return e.status_code


# psctl's commands: 77 for no token, a wrong one or the worker's.
rc, out, err = T.psctl("status", url=srv.url)
T.ok(rc == 77 and "token" in err, "status without a token exits 77")
T.diag(err.strip())
rc, out, err = T.psctl("status", url=srv.url, token="wrong-token-000000000")
T.is_eq(rc, 77, "status with a wrong token exits 77")
rc, out, err = T.psctl("status", url=srv.url, token=WTOK)
T.is_eq(rc, 77, "status with the worker token exits 77")
rc, out, err = T.psctl("status", "--token-file", ofile, url=srv.url)
T.is_eq(rc, 0, "status with --token-file naming the operator token works")
rc, out, err = T.psctl("checkpoint", url=srv.url, token=WTOK)
T.is_eq(rc, 77, "checkpoint with the worker token exits 77")
rc, out, err = T.psctl("reset", url=srv.url, token=WTOK)
T.is_eq(rc, 77, "reset with the worker token exits 77")
rc, out, err = T.psctl("stop", url=srv.url, token=WTOK)
T.ok(rc == 77 and srv.proc.poll() is None,
     "stop with the worker token exits 77 and the server runs on")
rc, out, err = T.psctl("status", "--token-file", os.path.join(d, "none"),
                       url=srv.url)
T.is_eq(rc, 66, "an unreadable token file exits 66")

# The handshakes themselves.
T.is_eq(handshake_status(srv.url, None, P.PROTOCOL), 401,
        "a worker handshake without a token is answered 401")
T.is_eq(handshake_status(srv.url, WTOK, P.PROTOCOL), 101,
        "a worker handshake with the worker token is accepted")
T.is_eq(handshake_status(srv.url, OTOK, P.PROTOCOL), 101,
        "a worker handshake with the operator token is accepted")
T.is_eq(handshake_status(srv.url, WTOK, P.CONTROL_PROTOCOL), 403,
        "a control handshake with the worker token is answered 403")
T.is_eq(handshake_status(srv.url, "x" * 30, P.CONTROL_PROTOCOL), 401,
        "a control handshake with a wrong token is answered 401")

# HTTP: /metrics needs the operator token, the probes need none.
T.is_eq(T.http_get(srv.http + "/metrics")[0], 401,
        "/metrics without a token is 401")
T.is_eq(T.http_get(srv.http + "/metrics", token=WTOK)[0], 403,
        "/metrics with the worker token is 403")
T.is_eq(T.http_get(srv.http + "/metrics", token=OTOK)[0], 200,
        "/metrics with the operator token is 200")
T.is_eq(T.http_get(srv.http + "/livez")[0], 200,
        "/livez needs no token")
srv.signal(signal.SIGTERM)
T.is_eq(srv.wait(), 0, "SIGTERM stops the server with status 0")

# TLS with a throwaway CA.
openssl = shutil.which("openssl")
if openssl is None:
    T.skip(6, "the openssl command is not installed")
    T.done()


def ossl(*args):
    subprocess.run([openssl] + list(args), check=True, cwd=d,
                   capture_output=True)


ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
     "-subj", "/CN=psctl test CA", "-keyout", "ca.key", "-out", "ca.pem")
ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
     "-keyout", "server.key", "-out", "server.csr")
with open(os.path.join(d, "san.ext"), "w") as f:
    f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
     "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
     "-out", "server.pem")
ca = os.path.join(d, "ca.pem")

tls = T.Server("--tls-cert", os.path.join(d, "server.pem"),
               "--tls-key", os.path.join(d, "server.key"), tls=True)
rc, out, err = T.psctl("status", "--json", "--ca-file", ca, url=tls.url)
T.ok(rc == 0 and '"state"' in out,
     "status over wss:// verified with --ca-file works")
rc, out, err = T.psctl("status", url=tls.url,
                       env={"SSL_CERT_FILE": "/nonexistent"})
T.ok(rc == 76 and "TLS" in err,
     "without the CA the certificate does not verify: exit 76")
T.diag(err.strip())
plain = "ws://127.0.0.1:%d/" % tls.port
rc, out, err = T.psctl("status", url=plain)
# The server drops a connection that does not start TLS: the client sees
# it go away (69) or a handshake that is not one (76), never a crash.
T.ok(rc in (69, 76) and err.startswith("psctl status: ") and plain in err,
     "plain ws:// to the TLS port fails with 69 or 76, naming it (%d)" % rc)
T.diag(err.strip())
code, _, body = T.http_get(tls.http + "/livez", cafile=ca)
T.is_eq(code, 200, "https:// /livez verified with the CA answers 200")
w = tls.worker("tls", hello=False, sslopt={"ca_certs": ca})
T.is_eq(w.request(P.HELLO, text="tls").op, P.REPLY,
        "a worker says hello over wss://")
w.close()
rc, out, err = T.psctl("stop", "--ca-file", ca, url=tls.url)
T.ok(rc == 0 and tls.wait() == 0, "stop over wss:// stops it with status 0")
T.done()
