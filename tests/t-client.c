/*
 * libpsctl (psctl.h) against an independent server: the fake in
 * tests/wsserver.py, built on tests/psproto.py (written from the protocol
 * manual) and numpy.  Expected values are computed here by hand (w + u in
 * float32), not by the library.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psctl.h"
#include "tap.h"
#include "tensor.h"

/* The installed header repeats the wire codes: they must agree. */
_Static_assert((int)PSCTL_SERVER_MALFORMED == (int)PS_E_MALFORMED &&
    (int)PSCTL_SERVER_UNKNOWN_OP == (int)PS_E_UNKNOWN_OP &&
    (int)PSCTL_SERVER_TOO_LARGE == (int)PS_E_TOO_LARGE &&
    (int)PSCTL_SERVER_NO_MODEL == (int)PS_E_NO_MODEL &&
    (int)PSCTL_SERVER_MISMATCH == (int)PS_E_MISMATCH &&
    (int)PSCTL_SERVER_UNKNOWN_TENSOR == (int)PS_E_UNKNOWN_TENSOR &&
    (int)PSCTL_SERVER_SHAPE == (int)PS_E_SHAPE &&
    (int)PSCTL_SERVER_NONFINITE == (int)PS_E_NONFINITE &&
    (int)PSCTL_SERVER_DTYPE == (int)PS_E_DTYPE &&
    (int)PSCTL_SERVER_PROTOCOL == (int)PS_E_PROTOCOL &&
    (int)PSCTL_SERVER_SHUTDOWN == (int)PS_E_SHUTDOWN &&
    (int)PSCTL_SERVER_INTERNAL == (int)PS_E_INTERNAL &&
    (int)PSCTL_SERVER_DUPLICATE == (int)PS_E_DUPLICATE &&
    (int)PSCTL_SERVER_BUSY == (int)PS_E_BUSY &&
    (int)PSCTL_SERVER_UNAUTHORIZED == (int)PS_E_UNAUTHORIZED,
    "psctl.h's server codes match tensor.h's");

#define NSUITE	35	/* run against each server */
#define NFAKE	8	/* connection tests against the fake only */

static uint64_t	rng = 0x2545f4914f6cdd1dULL;

static void
fill(float *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		p[i] = (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
	}
}

static void
mk(struct psctl_tensor *t, const char *name, unsigned ndim, uint64_t d0,
    uint64_t d1)
{
	size_t	n = ndim == 0 ? 1 : ndim == 1 ? d0 : d0 * d1;

	memset(t, 0, sizeof *t);
	t->name = name;
	t->ndim = ndim;
	t->dims[0] = d0;
	t->dims[1] = d1;
	t->n = n;
	t->data = calloc(n + 1, sizeof(float));
	fill(t->data, n);
}

static int
same(const struct psctl_tensor *a, const struct psctl_tensor *b)
{
	return strcmp(a->name, b->name) == 0 && a->ndim == b->ndim &&
	    memcmp(a->dims, b->dims, a->ndim * sizeof a->dims[0]) == 0 &&
	    a->n == b->n && (a->n == 0 ||
	    memcmp(a->data, b->data, a->n * sizeof(float)) == 0);
}

static struct psctl *
conn(const char *url, const char *name, uint64_t resume, const char *secret,
    char *err, size_t errlen, enum psctl_errcode *code)
{
	struct psctl_opts	o;

	memset(&o, 0, sizeof o);
	o.url = url;
	o.name = name;
	o.resume_id = resume;
	o.resume_secret = secret;
	o.timeout_ms = 10000;
	return psctl_connect(&o, err, errlen, code);
}

/*
 * Hello, init, push, pull and refusals against the server at url, which
 * must start without a model.  NSUITE tests.
 */
static void
suite(const char *url, const char *who)
{
	struct psctl_tensor		 m[4], copy[4], u[2], into[2], bad;
	const struct psctl_tensor	*got;
	struct psctl			*c, *c2;
	enum psctl_errcode		 code;
	const char			*names[1] = { "b" }, *secret;
	char				 keep[64];
	uint64_t			 v = 99, id;
	size_t				 n, i;
	float				 want_w[12], want_b[5];
	char				 err[512];
	int				 okay;

	diag("against %s at %s", who, url);
	/* Hello. */
	c = conn(url, "w0", 0, NULL, err, sizeof err, &code);
	ok(c != NULL, "%s: connects and says hello (%s)", who,
	    c != NULL ? "ok" : err);
	if (c == NULL)
		bail_out("no connection");
	ok(psctl_worker_id(c) >= 1, "%s: the server gave a worker id", who);
	psctl_model(c, &n);
	is_int(n, 0, "%s: there is no model before init", who);
	secret = psctl_resume_secret(c);
	ok(secret != NULL && strlen(secret) == 41 &&
	    strncmp(secret, "__resume/", 9) == 0 &&
	    strspn(secret + 9, "0123456789abcdef") == 32,
	    "%s: hello gave a resume secret, not a model tensor", who);
	c2 = conn(url, "leaving", 0, NULL, err, sizeof err, &code);
	id = c2 != NULL ? psctl_worker_id(c2) : 0;
	snprintf(keep, sizeof keep, "%s", c2 != NULL &&
	    psctl_resume_secret(c2) != NULL ? psctl_resume_secret(c2) : "");
	psctl_close(c2);
	c2 = conn(url, "thief", id, NULL, err, sizeof err, &code);
	ok(c2 == NULL && code == PSCTL_E_AUTH,
	    "%s: a resume without the secret is refused (%s)", who, err);
	psctl_close(c2);
	c2 = conn(url, "thief", id, secret, err, sizeof err, &code);
	ok(c2 == NULL && code == PSCTL_E_AUTH,
	    "%s: a resume with another worker's secret is refused (%s)", who,
	    err);
	psctl_close(c2);
	c2 = conn(url, "back", id, keep, err, sizeof err, &code);
	ok(c2 != NULL && id != 0 && psctl_worker_id(c2) == id,
	    "%s: a worker that left resumes its id with its secret", who);
	ok(c2 != NULL && psctl_resume_secret(c2) != NULL &&
	    strcmp(psctl_resume_secret(c2), keep) == 0,
	    "%s: the resumed hello gives the same secret again", who);
	psctl_close(c2);

	/* Errors from the server leave the connection usable. */
	ok(psctl_pull(c, NULL, 0, &got, &n, &v) == -1 &&
	    psctl_errcode(c) == PSCTL_E_SERVER &&
	    psctl_server_code(c) == PS_E_NO_MODEL,
	    "%s: a pull before init is refused with no_model", who);
	ok(strstr(psctl_error(c), "no model") != NULL,
	    "%s: psctl_error has the server's text (%s)", who,
	    psctl_error(c));

	/* Init: odd counts exercise padding, a scalar and an empty tensor. */
	mk(&m[0], "dense/w", 2, 3, 4);
	mk(&m[1], "dense/b\xc3\xa9", 1, 5, 0);
	mk(&m[2], "scale", 0, 0, 0);
	mk(&m[3], "empty", 2, 2, 0);
	for (i = 0; i < 4; i++) {
		copy[i] = m[i];
		copy[i].data = malloc((m[i].n + 1) * sizeof(float));
		memcpy(copy[i].data, m[i].data, m[i].n * sizeof(float));
	}
	ok(psctl_init(c, m, 4, &v) == 0, "%s: init with four tensors succeeds "
	    "(%s)", who, psctl_error(c));
	ok(v == 0 && psctl_errcode(c) == PSCTL_OK,
	    "%s: the new model is at version 0, no error left", who);
	got = psctl_model(c, &n);
	okay = n == 4;
	for (i = 0; okay && i < 4; i++)
		okay = same(&got[i], &copy[i]);
	ok(okay, "%s: the model comes back with the same names, shapes, data",
	    who);
	ok(n == 4 && ((uintptr_t)got[0].data & 3) == 0,
	    "%s: tensor data is float-aligned", who);
	okay = 1;
	for (i = 0; i < 4; i++)
		okay &= same(&m[i], &copy[i]);
	ok(okay, "%s: init left the caller's arrays unchanged", who);

	/* A second worker: same model back; a different one refused. */
	c2 = conn(url, "w1", 0, NULL, err, sizeof err, &code);
	ok(c2 != NULL, "%s: a second worker connects", who);
	if (c2 == NULL)
		bail_out("no second connection");
	got = psctl_model(c2, &n);
	ok(n == 4 && got[1].data == NULL &&
	    strcmp(got[1].name, "dense/b\xc3\xa9") == 0 && got[1].dims[0] == 5,
	    "%s: its hello lists the names and shapes, without data", who);
	ok(psctl_init(c2, m, 4, &v) == 0 && v == 0,
	    "%s: its init with the same names and shapes succeeds", who);
	bad = m[0];
	bad.dims[1] = 3;
	bad.n = 9;
	ok(psctl_init(c2, &bad, 1, &v) == -1 &&
	    psctl_errcode(c2) == PSCTL_E_SERVER &&
	    psctl_server_code(c2) == PS_E_MISMATCH,
	    "%s: an init of a different model is refused as a mismatch", who);

	/* Push, then pull: w + u, exactly, in float32. */
	mk(&u[0], "dense/w", 2, 3, 4);
	mk(&u[1], "dense/b\xc3\xa9", 1, 5, 0);
	for (i = 0; i < 12; i++)
		want_w[i] = m[0].data[i] + u[0].data[i];
	for (i = 0; i < 5; i++)
		want_b[i] = m[1].data[i] + u[1].data[i];
	ok(psctl_push(c, u, 2, &v) == 0 && v == 1 && psctl_version(c) == 1,
	    "%s: a push is applied and the version rises to 1 (%s)", who,
	    psctl_error(c));
	ok(psctl_pull(c, NULL, 0, &got, &n, &v) == 0 && n == 4 && v == 1,
	    "%s: the whole model is pulled at version 1", who);
	ok(n == 4 && memcmp(got[0].data, want_w, sizeof want_w) == 0 &&
	    memcmp(got[1].data, want_b, sizeof want_b) == 0 &&
	    got[2].data[0] == m[2].data[0] && got[3].n == 0,
	    "%s: pulled values are w + u, the untouched tensors unchanged",
	    who);
	ok(psctl_pull(c2, names, 1, &got, &n, &v) == -1 &&
	    psctl_server_code(c2) == PS_E_UNKNOWN_TENSOR,
	    "%s: pulling an unknown name is refused", who);
	names[0] = "dense/b\xc3\xa9";
	ok(psctl_pull(c2, names, 1, &got, &n, &v) == 0 && n == 1 &&
	    memcmp(got[0].data, want_b, sizeof want_b) == 0,
	    "%s: one named tensor is pulled", who);
	psctl_model(c2, &n);
	is_int(n, 4, "%s: a named pull leaves the model list alone", who);

	/* pull_into matches by name, in any order. */
	mk(&into[0], "dense/b\xc3\xa9", 1, 5, 0);
	mk(&into[1], "dense/w", 2, 3, 4);
	ok(psctl_pull_into(c, into, 2, &v) == 0 && v == 1,
	    "%s: pull_into succeeds (%s)", who, psctl_error(c));
	ok(memcmp(into[0].data, want_b, sizeof want_b) == 0 &&
	    memcmp(into[1].data, want_w, sizeof want_w) == 0,
	    "%s: pull_into copied each tensor to the one with its name", who);
	into[1].ndim = 1;
	into[1].dims[0] = 12;
	into[0].data[0] = 12345;
	ok(psctl_pull_into(c, into, 2, &v) == -1 &&
	    psctl_errcode(c) == PSCTL_E_ARG, "%s: pull_into refuses a shape "
	    "that differs from the server's", who);
	ok(into[0].data[0] == 12345, "%s: and copies nothing", who);

	/* Refused pushes. */
	bad = u[1];
	bad.name = "nope";
	ok(psctl_push(c, &bad, 1, &v) == -1 &&
	    psctl_errcode(c) == PSCTL_E_SERVER &&
	    psctl_server_code(c) == PS_E_UNKNOWN_TENSOR &&
	    strstr(psctl_error(c), "nope") != NULL,
	    "%s: a push of an unknown tensor is refused (%s)", who,
	    psctl_error(c));
	bad = u[0];
	bad.ndim = 1;
	bad.dims[0] = 12;
	ok(psctl_push(c, &bad, 1, &v) == -1 &&
	    psctl_server_code(c) == PS_E_SHAPE,
	    "%s: a push with the wrong shape is refused", who);
	bad.n = 11;
	ok(psctl_push(c, &bad, 1, &v) == -1 &&
	    psctl_errcode(c) == PSCTL_E_ARG && psctl_server_code(c) == 0,
	    "%s: n that disagrees with the shape is refused before sending",
	    who);
	bad = u[0];
	bad.name = "";
	ok(psctl_push(c, &bad, 1, &v) == -1 &&
	    psctl_errcode(c) == PSCTL_E_ARG, "%s: an empty name is refused",
	    who);
	bad = u[0];
	bad.data[3] = 1.0f / 0.0f;
	ok(psctl_push(c, &bad, 1, &v) == -1 &&
	    psctl_errcode(c) == PSCTL_E_SERVER &&
	    psctl_server_code(c) == PS_E_NONFINITE, "%s: an infinite value is "
	    "refused by the server (%s)", who, psctl_error(c));
	ok(psctl_pull(c, NULL, 0, &got, &n, &v) == 0 && v == 1 &&
	    memcmp(got[0].data, want_w, sizeof want_w) == 0,
	    "%s: after refusals the model is unchanged, the connection works",
	    who);
	psctl_close(c);
	psctl_close(c2);

	for (i = 0; i < 4; i++) {
		free(m[i].data);
		free(copy[i].data);
	}
	free(u[0].data);
	free(u[1].data);
	free(into[0].data);
	free(into[1].data);
}

/* Connection failures and what they are called.  NFAKE tests. */
static void
fake_only(const char *psctl_url, int port, int rawport)
{
	struct psctl		*c;
	struct sockaddr_in	 sin;
	enum psctl_errcode	 code;
	socklen_t		 sl = sizeof sin;
	char			 url[128], err[512];
	int			 fd;

	setenv("PSCTL_URL", psctl_url, 1);
	c = psctl_connect(NULL, err, sizeof err, &code);
	ok(c != NULL && psctl_version(c) == 1, "with no options $PSCTL_URL "
	    "is used (%s)", c != NULL ? "ok" : err);
	psctl_close(c);
	unsetenv("PSCTL_URL");

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1)
		bail_out("bind: %s", strerror(errno));
	close(fd);
	snprintf(url, sizeof url, "ws://127.0.0.1:%d", ntohs(sin.sin_port));
	c = conn(url, NULL, 0, NULL, err, sizeof err, &code);
	ok(c == NULL && code == PSCTL_E_UNAVAILABLE,
	    "a closed port gives PSCTL_E_UNAVAILABLE (%s)", err);
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/auth", port);
	c = conn(url, NULL, 0, NULL, err, sizeof err, &code);
	ok(c == NULL && code == PSCTL_E_AUTH, "a refused token gives "
	    "PSCTL_E_AUTH (%s)", err);
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo", port);
	c = conn(url, NULL, 0, NULL, err, sizeof err, &code);
	ok(c == NULL && code == PSCTL_E_PROTOCOL, "a server that echoes the "
	    "hello is not a psctl server (%s)", err);
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/status/404", rawport);
	c = conn(url, NULL, 0, NULL, err, sizeof err, &code);
	ok(c == NULL && code == PSCTL_E_PROTOCOL && strstr(err, "404") != NULL,
	    "an HTTP 404 is a protocol error that names the status");
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/close/4003", port);
	c = conn(url, NULL, 0, NULL, err, sizeof err, &code);
	ok(c == NULL && code == PSCTL_E_CLOSED && strstr(err, "4003") != NULL,
	    "a server that closes instead of answering gives PSCTL_E_CLOSED");
	c = conn("ftp://x", NULL, 0, NULL, err, sizeof err, &code);
	ok(c == NULL && code == PSCTL_E_ARG, "a bad URL is PSCTL_E_ARG");
	c = conn(psctl_url, "bad\xff", 0, NULL, err, sizeof err, &code);
	ok(c == NULL && code == PSCTL_E_ARG, "a worker name that is not "
	    "UTF-8 is PSCTL_E_ARG");
}

int
main(void)
{
	struct tap_server	 srv;
	struct tap_child	 fake;
	char			 url[128], line[64], *dir, script[4096], cmd[4200];
	char			*argv[3];
	const char		*srcdir;
	int			 port, rawport;

	plan(2 * NSUITE + NFAKE);
	dir = tap_tmpdir();
	if (getenv("PSCTL") == NULL)
		skip(NSUITE, "no psctl serve to test against ($PSCTL)");
	else if (tap_serve_start(&srv, dir, "-q", (char *)NULL) == -1)
		bail_out("psctl serve did not start");
	else {
		suite(srv.url, "psctl serve");
		tap_serve_stop(&srv, SIGTERM);
	}

	if ((srcdir = getenv("PS_SRCDIR")) == NULL)
		srcdir = ".";
	snprintf(script, sizeof script, "%s/tests/wsserver.py", srcdir);
	argv[0] = (char *)tap_python();
	argv[1] = script;
	argv[2] = NULL;
	snprintf(cmd, sizeof cmd, "'%s' -c 'import websockets, numpy' "
	    ">/dev/null 2>&1", tap_python());
	if (system(cmd) != 0)
		skip(NSUITE + NFAKE, "%s lacks websockets or numpy",
		    tap_python());
	else if (tap_child_start(&fake, argv, line, sizeof line) == -1 ||
	    sscanf(line, "%d %d", &port, &rawport) != 2)
		bail_out("tests/wsserver.py did not start");
	else {
		snprintf(url, sizeof url, "ws://127.0.0.1:%d/psctl", port);
		suite(url, "the Python fake");
		fake_only(url, port, rawport);
		tap_child_stop(&fake);
	}
	free(dir);
	return exit_status();
}
