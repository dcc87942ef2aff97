/*
 * The WebSocket client against an independent implementation
 * (python3-websockets, tests/wsserver.py) and a hand-written server that
 * breaks the handshake or the framing on purpose.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "wsc.h"

#define NTESTS_LOCAL	6
#define NTESTS_PY	46
#define NTESTS_TLS	6

/* tests/wsserver.py: its two ports. */
struct server {
	struct tap_child child;
	int		 port;
	int		 rawport;
};

/* Starts tests/wsserver.py (over TLS when cert is set) and reads its ports. */
static int
start_server(struct server *s, const char *cert, const char *key)
{
	const char	*srcdir;
	char		 script[4096], line[64], *argv[6];
	int		 n = 0;

	if ((srcdir = getenv("PS_SRCDIR")) == NULL)
		srcdir = ".";
	snprintf(script, sizeof script, "%s/tests/wsserver.py", srcdir);
	argv[n++] = (char *)tap_python();
	argv[n++] = script;
	if (cert != NULL) {
		argv[n++] = "--tls";
		argv[n++] = (char *)cert;
		argv[n++] = (char *)key;
	}
	argv[n] = NULL;
	if (tap_child_start(&s->child, argv, line, sizeof line) == -1)
		return -1;
	if (sscanf(line, "%d %d", &s->port, &s->rawport) != 2) {
		tap_child_stop(&s->child);
		return -1;
	}
	return 0;
}

static uint64_t	rng = 0x9e3779b97f4a7c15ULL;

static void
fill_random(unsigned char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		p[i] = (unsigned char)(rng >> 24);
	}
}

static struct ps_wsc *
open_ws(const char *url, const char *token, enum ps_wsc_err *err,
    char *errbuf, size_t errlen)
{
	struct ps_wsc_opts	o;

	memset(&o, 0, sizeof o);
	o.url = url;
	o.protocol = "test.v1";
	o.token = token;
	o.timeout_ms = 10000;
	return ps_wsc_connect(&o, err, errbuf, errlen);
}

/*
 * Sends n random bytes as three iovecs (split at odd offsets) and checks
 * that the echo matches and that the caller's bytes were left alone.
 */
static int
echo_ok(struct ps_wsc *c, size_t n, int *unchanged)
{
	unsigned char	*a, *copy;
	struct iovec	 iov[3];
	void		*buf;
	size_t		 len, s1, s2;
	int		 text = -1, r;

	a = malloc(n + 1);
	copy = malloc(n + 1);
	fill_random(a, n);
	memcpy(copy, a, n);
	s1 = n / 3 | 1;
	s2 = n / 2 + 5;
	if (s1 > n)
		s1 = n;
	if (s2 < s1 || s2 > n)
		s2 = s1;
	iov[0].iov_base = a;
	iov[0].iov_len = s1;
	iov[1].iov_base = a + s1;
	iov[1].iov_len = s2 - s1;
	iov[2].iov_base = a + s2;
	iov[2].iov_len = n - s2;
	r = ps_wsc_send(c, 0, iov, 3) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, -1) == 0 &&
	    len == n && text == 0 && memcmp(buf, copy, n) == 0 &&
	    ((uintptr_t)buf & 7) == 0;
	if (!r)
		diag("size %zu: %s (len %zu)", n, ps_wsc_error(c), len);
	if (memcmp(a, copy, n) != 0)
		*unchanged = 0;
	free(a);
	free(copy);
	return r;
}

static void
test_local(void)
{
	struct sockaddr_in	 sin;
	struct ps_wsc		*c;
	enum ps_wsc_err		 err;
	socklen_t		 sl = sizeof sin;
	char			 errbuf[256], url[64];
	int			 fd;

	c = open_ws("http://127.0.0.1:1/", NULL, &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_ARG, "an http:// URL is refused as "
	    "a bad argument");
	c = open_ws("ws://[::1/x", NULL, &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_ARG, "an unclosed IPv6 bracket is "
	    "refused");
	c = open_ws("ws://127.0.0.1:65536/", NULL, &err, errbuf,
	    sizeof errbuf);
	ok(c == NULL && err == PS_WSC_ARG, "a port over 65535 is refused");

	/* A port that was just free is closed: connect is refused. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1)
		bail_out("bind: %s", strerror(errno));
	close(fd);
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/", ntohs(sin.sin_port));
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_UNAVAILABLE &&
	    strstr(errbuf, "refused") != NULL,
	    "a closed port gives PS_WSC_UNAVAILABLE (%s)", errbuf);
	snprintf(url, sizeof url, "ws://[::1]:%d/", ntohs(sin.sin_port));
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_UNAVAILABLE,
	    "a closed IPv6 port gives PS_WSC_UNAVAILABLE (%s)", errbuf);
	c = open_ws("ws://no-such-host.invalid:7070/", NULL, &err, errbuf,
	    sizeof errbuf);
	ok(c == NULL && err == PS_WSC_UNAVAILABLE,
	    "an unresolvable host gives PS_WSC_UNAVAILABLE");
}

static void
test_echo(const struct server *s)
{
	static const size_t sizes[] = { 0, 1, 125, 126, 127, 65535, 65536,
	    1048576 + 3, 9000000 };
	struct ps_wsc	*c;
	enum ps_wsc_err	 err;
	struct iovec	 iov;
	struct pollfd	 pfd;
	char		 errbuf[256], url[128];
	void		*buf;
	size_t		 i, len;
	int		 unchanged = 1, text;

	snprintf(url, sizeof url, "ws://localhost:%d/echo", s->port);
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	ok(c != NULL, "connects to the websockets server by host name (%s)",
	    c == NULL ? errbuf : "ok");
	if (c == NULL)
		bail_out("cannot test without a connection");
	is_int(ps_wsc_http_status(c), 101, "the handshake got 101");
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		ok(echo_ok(c, sizes[i], &unchanged), "a binary message of %zu "
		    "bytes comes back intact", sizes[i]);
	ok(unchanged, "sending never modified the caller's buffers");

	iov.iov_base = (void *)"h\xc3\xa9llo {\"x\": 1}";
	iov.iov_len = strlen(iov.iov_base);
	ok(ps_wsc_send(c, 1, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, -1) == 0 && text == 1 &&
	    len == iov.iov_len && strcmp(buf, iov.iov_base) == 0,
	    "a text message comes back as text, NUL-terminated");

	/* Multiplexing: poll the fd, then receive without waiting. */
	ok(ps_wsc_send(c, 1, &iov, 1) == 0, "another text message is sent");
	pfd.fd = ps_wsc_fd(c);
	pfd.events = POLLIN;
	ok(ps_wsc_pending(c) || poll(&pfd, 1, 10000) == 1,
	    "the fd polls readable when the echo arrives");
	ok(ps_wsc_recv(c, &buf, &len, &text, 0, 0) == 0 && text == 1 &&
	    len == iov.iov_len, "a zero timeout receives what has arrived");
	ps_wsc_close(c);
}

static void
test_modes(const struct server *s)
{
	struct ps_wsc	*c;
	enum ps_wsc_err	 err;
	struct iovec	 iov;
	unsigned char	*a;
	char		 errbuf[256], url[128];
	void		*buf;
	size_t		 len, n = 300001;
	int		 text;

	a = malloc(n);
	fill_random(a, n);
	iov.iov_base = a;
	iov.iov_len = n;

	snprintf(url, sizeof url, "ws://127.0.0.1:%d/fragment/7", s->port);
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	ok(c != NULL && ps_wsc_send(c, 0, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, -1) == 0 && len == n &&
	    text == 0 && memcmp(buf, a, n) == 0,
	    "a reply in 7 fragments is joined into one message");
	iov.iov_base = (void *)"fragmented text, joined";
	iov.iov_len = strlen(iov.iov_base);
	ok(c != NULL && ps_wsc_send(c, 1, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, -1) == 0 && text == 1 &&
	    strcmp(buf, iov.iov_base) == 0, "fragmented text is joined too");
	ps_wsc_close(c);

	snprintf(url, sizeof url, "ws://127.0.0.1:%d/ping", s->port);
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	ok(c != NULL && ps_wsc_send(c, 1, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, -1) == 0 &&
	    strcmp(buf, "pong-ok") == 0,
	    "a ping from the server is answered with a pong");
	ps_wsc_close(c);

	snprintf(url, sizeof url, "ws://127.0.0.1:%d/close/4001", s->port);
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	ok(c != NULL && ps_wsc_send(c, 1, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, -1) == -1,
	    "a receive fails when the server closes");
	if (c != NULL) {
		is_int(ps_wsc_errcode(c), PS_WSC_CLOSED, "with PS_WSC_CLOSED");
		is_int(ps_wsc_close_code(c), 4001, "and the server's code");
		ok(strstr(ps_wsc_error(c), "4001: bye") != NULL,
		    "the error names the code and reason (%s)",
		    ps_wsc_error(c));
		ok(ps_wsc_send(c, 1, &iov, 1) == -1,
		    "a closed connection refuses to send");
	} else
		skip(4, "no connection");
	ps_wsc_close(c);

	snprintf(url, sizeof url, "ws://127.0.0.1:%d/auth", s->port);
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_AUTH && strstr(errbuf, "401") != NULL,
	    "no token: 401 gives PS_WSC_AUTH (%s)", errbuf);
	c = open_ws(url, "wrong", &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_AUTH, "a wrong token gives PS_WSC_AUTH");
	c = open_ws(url, "secret", &err, errbuf, sizeof errbuf);
	ok(c != NULL && ps_wsc_send(c, 1, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, -1) == 0 && len == iov.iov_len,
	    "the right token is sent as a bearer and accepted");
	ps_wsc_close(c);
	c = open_ws(url, "bad\r\nX-Injected: 1", &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_ARG, "a token with CR LF is refused");

	/* Too large: refused by size, then by a header alone. */
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo", s->port);
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	iov.iov_base = a;
	iov.iov_len = n;
	ok(c != NULL && ps_wsc_send(c, 0, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, n - 1, -1) == -1 &&
	    ps_wsc_errcode(c) == PS_WSC_TOO_LARGE,
	    "a message one byte over the cap gives PS_WSC_TOO_LARGE");
	ps_wsc_close(c);
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/huge-frame", s->rawport);
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	ok(c != NULL && ps_wsc_send(c, 0, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, 5000) == -1 &&
	    ps_wsc_errcode(c) == PS_WSC_TOO_LARGE,
	    "a frame header announcing 1 TiB is refused before any payload "
	    "(%s)", c != NULL ? ps_wsc_error(c) : errbuf);
	ps_wsc_close(c);

	/* Time-outs between messages leave the connection usable. */
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/silent", s->port);
	c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
	ok(c != NULL && ps_wsc_send(c, 0, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, 300) == -1 &&
	    ps_wsc_errcode(c) == PS_WSC_TIMEOUT,
	    "no answer within 300 ms gives PS_WSC_TIMEOUT");
	ok(c != NULL && ps_wsc_recv(c, &buf, &len, &text, 0, 0) == -1 &&
	    ps_wsc_errcode(c) == PS_WSC_TIMEOUT,
	    "a zero timeout with nothing waiting gives PS_WSC_TIMEOUT at once");
	ok(c != NULL && ps_wsc_send(c, 0, &iov, 1) == 0,
	    "the connection still sends after a time-out");
	ps_wsc_close(c);
	free(a);
}

/* /slow-frame's message: byte i is i % 251. */
static int
slow_frame_ok(const unsigned char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (p[i] != i % 251)
			return 0;
	return 1;
}

static void
test_raw(const struct server *s)
{
	static const struct {
		const char	*path;
		enum ps_wsc_err	 err;
		const char	*what;
		const char	*in_error;
	} hs[] = {
		{ "bad-accept", PS_WSC_HANDSHAKE, "a wrong Sec-WebSocket-Accept",
		  "Accept" },
		{ "no-protocol", PS_WSC_HANDSHAKE, "a missing subprotocol",
		  "test.v1" },
		{ "status/404", PS_WSC_HANDSHAKE, "an HTTP 404",
		  "HTTP/1.1 404 Test Status" },
		{ "status/403", PS_WSC_AUTH, "an HTTP 403", "403" },
		{ "status/500", PS_WSC_HANDSHAKE, "an HTTP 500", "500" },
	};
	static const char *const bad[] = { "masked", "rsv", "opcode",
	    "big-control", "frag-control", "cont" };
	struct ps_wsc_opts	 o;
	struct ps_wsc		*c;
	enum ps_wsc_err		 err;
	struct iovec		 iov;
	char			 errbuf[256], url[128];
	void			*buf;
	size_t			 i, len;
	int			 text, got;

	for (i = 0; i < sizeof hs / sizeof hs[0]; i++) {
		snprintf(url, sizeof url, "ws://127.0.0.1:%d/%s", s->rawport,
		    hs[i].path);
		c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
		ok(c == NULL && err == hs[i].err &&
		    strstr(errbuf, hs[i].in_error) != NULL,
		    "%s fails the handshake (%s)", hs[i].what, errbuf);
		ps_wsc_close(c);
	}
	memset(&o, 0, sizeof o);
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/no-answer", s->rawport);
	o.url = url;
	o.timeout_ms = 400;
	c = ps_wsc_connect(&o, &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_UNAVAILABLE,
	    "a server that never answers the handshake is unavailable (%s)",
	    errbuf);

	iov.iov_base = (void *)"go";
	iov.iov_len = 2;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(url, sizeof url, "ws://127.0.0.1:%d/%s", s->rawport,
		    bad[i]);
		c = open_ws(url, NULL, &err, errbuf, sizeof errbuf);
		ok(c != NULL && ps_wsc_send(c, 0, &iov, 1) == 0 &&
		    ps_wsc_recv(c, &buf, &len, &text, 0, 5000) == -1 &&
		    ps_wsc_errcode(c) == PS_WSC_PROTOCOL,
		    "a %s frame is a protocol error (%s)", bad[i],
		    c != NULL ? ps_wsc_error(c) : errbuf);
		ps_wsc_close(c);
	}

	/*
	 * 128 KiB takes 3.2 s to arrive: the client, which waits for that
	 * much of a large payload (SO_RCVLOWAT), must count what waits in
	 * the socket as progress.
	 */
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/slow-frame", s->rawport);
	o.url = url;
	o.protocol = "test.v1";
	o.timeout_ms = 1000;
	c = ps_wsc_connect(&o, &err, errbuf, sizeof errbuf);
	len = 0;
	got = c != NULL && ps_wsc_send(c, 0, &iov, 1) == 0 &&
	    ps_wsc_recv(c, &buf, &len, &text, 0, 5000) == 0;
	ok(got && len == 192 << 10 && slow_frame_ok(buf, len),
	    "a 192 KiB message arriving at 40 KiB/s with a 1 s timeout "
	    "comes whole (%zu bytes: %s)", len, got ? "received" :
	    c != NULL ? ps_wsc_error(c) : errbuf);
	ps_wsc_close(c);
}

static int
run(const char *cmd)
{
	int	r = system(cmd);

	return r == -1 || !WIFEXITED(r) ? -1 : WEXITSTATUS(r);
}

static void
test_tls(void)
{
	struct server	 s;
	struct ps_wsc_opts o;
	struct ps_wsc	*c;
	enum ps_wsc_err	 err;
	char		*dir, cmd[8192], ca[4096], cert[4096], key[4096];
	char		 errbuf[256], url[128];
	int		 unchanged = 1;

	if (run("command -v openssl >/dev/null 2>&1") != 0) {
		skip(NTESTS_TLS, "no openssl command");
		return;
	}
	dir = tap_tmpdir();
	snprintf(cmd, sizeof cmd,
	    "(cd '%s' && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
	    "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=psctl-test-ca "
	    "&& openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
	    "-nodes -keyout srv.key -out srv.csr -subj /CN=localhost && "
	    "printf 'subjectAltName=DNS:localhost\\n' >ext.cnf && "
	    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -out srv.pem -days 2 -extfile ext.cnf) "
	    ">/dev/null 2>&1",
	    dir);
	snprintf(ca, sizeof ca, "%s/ca.pem", dir);
	snprintf(cert, sizeof cert, "%s/srv.pem", dir);
	snprintf(key, sizeof key, "%s/srv.key", dir);
	if (run(cmd) != 0 || start_server(&s, cert, key) == -1) {
		skip(NTESTS_TLS, "cannot make a certificate or start the "
		    "TLS server");
		free(dir);
		return;
	}

	memset(&o, 0, sizeof o);
	snprintf(url, sizeof url, "wss://localhost:%d/echo", s.port);
	o.url = url;
	o.protocol = "test.v1";
	o.ca_file = ca;
	c = ps_wsc_connect(&o, &err, errbuf, sizeof errbuf);
	ok(c != NULL, "wss:// verifies the server with the test CA (%s)",
	    c != NULL ? "ok" : errbuf);
	ok(c != NULL && echo_ok(c, 1048576 + 3, &unchanged) &&
	    echo_ok(c, 70000, &unchanged) && unchanged,
	    "echo over TLS comes back intact");
	ps_wsc_close(c);

	o.ca_file = NULL;
	c = ps_wsc_connect(&o, &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_TLS,
	    "without the CA the certificate is refused (%s)", errbuf);
	o.ca_file = "/nonexistent/ca.pem";
	c = ps_wsc_connect(&o, &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_TLS, "a missing CA file is a TLS error");

	/* The certificate names localhost only: 127.0.0.1 must not match. */
	snprintf(url, sizeof url, "wss://127.0.0.1:%d/echo", s.port);
	o.ca_file = ca;
	c = ps_wsc_connect(&o, &err, errbuf, sizeof errbuf);
	ok(c == NULL && err == PS_WSC_TLS,
	    "a certificate for another name is refused (%s)", errbuf);
	o.insecure = 1;
	o.ca_file = NULL;
	c = ps_wsc_connect(&o, &err, errbuf, sizeof errbuf);
	ok(c != NULL && echo_ok(c, 1000, &unchanged),
	    "the insecure option skips verification");
	ps_wsc_close(c);
	tap_child_stop(&s.child);
	free(dir);
}

int
main(void)
{
	struct server	s;
	char		cmd[4096];

	plan(NTESTS_LOCAL + NTESTS_PY + NTESTS_TLS);
	test_local();

	snprintf(cmd, sizeof cmd, "'%s' -c 'import websockets' "
	    ">/dev/null 2>&1", tap_python());
	if (run(cmd) != 0) {
		skip(NTESTS_PY + NTESTS_TLS, "%s lacks websockets",
		    tap_python());
		return exit_status();
	}
	if (start_server(&s, NULL, NULL) == -1)
		bail_out("tests/wsserver.py did not start");
	test_echo(&s);
	test_modes(&s);
	test_raw(&s);
	test_tls();
	tap_child_stop(&s.child);
	return exit_status();
}
