/*
 * A round trip between libpsctl and a real `psctl serve`: connect, init,
 * push, pull whole and by name, refusals that leave the connection usable,
 * resuming a worker id, and a clean stop.  Expected values are worked out
 * by hand.
 */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psctl.h"
#include "tap.h"

int
main(void)
{
	struct psctl_opts		 o;
	struct psctl			*c, *c2;
	struct psctl_tensor		 init[2], up[2], bad;
	const struct psctl_tensor	*t;
	const char			*names[] = { "b" };
	float				 w[6], b[3], dw[6], db[3], wrong[6];
	struct tap_server		 srv;
	char				 err[256], secret[64], *dir;
	uint64_t			 version = 99, id;
	size_t				 n, i;
	int				 status, good;

	plan(24);
	dir = tap_tmpdir();
	if (tap_serve_start(&srv, dir, (char *)NULL) == -1)
		bail_out("psctl serve did not start");

	memset(&o, 0, sizeof o);
	o.url = srv.url;
	o.name = "t-serve-client";
	o.timeout_ms = 10000;
	c = psctl_connect(&o, err, sizeof err, NULL);
	ok(c != NULL, "psctl_connect reaches psctl serve");
	if (c == NULL)
		bail_out("connect: %s", err);
	id = psctl_worker_id(c);
	snprintf(secret, sizeof secret, "%s", psctl_resume_secret(c) != NULL ?
	    psctl_resume_secret(c) : "");
	ok(id >= 1, "the server gives a worker id (%llu)",
	    (unsigned long long)id);
	psctl_model(c, &n);
	is_int(n, 0, "there is no model before init");
	ok(psctl_pull(c, NULL, 0, &t, &n, &version) == -1 &&
	    psctl_errcode(c) == PSCTL_E_SERVER && psctl_server_code(c) == 4,
	    "a pull before init is refused with no_model (4)");

	for (i = 0; i < 6; i++)
		w[i] = (float)i;
	for (i = 0; i < 3; i++)
		b[i] = 1;
	memset(init, 0, sizeof init);
	init[0].name = "w";
	init[0].ndim = 2;
	init[0].dims[0] = 2;
	init[0].dims[1] = 3;
	init[0].n = 6;
	init[0].data = w;
	init[1].name = "b";
	init[1].ndim = 1;
	init[1].dims[0] = 3;
	init[1].n = 3;
	init[1].data = b;
	ok(psctl_init(c, init, 2, &version) == 0, "psctl_init creates the model");
	is_int(version, 0, "at version 0");

	/* add rule: w += 0.5, b += -2 */
	for (i = 0; i < 6; i++)
		dw[i] = 0.5f;
	for (i = 0; i < 3; i++)
		db[i] = -2;
	memcpy(up, init, sizeof up);
	up[0].data = dw;
	up[1].data = db;
	ok(psctl_push(c, up, 2, &version) == 0, "psctl_push is applied");
	is_int(version, 1, "the model is at version 1");
	ok(psctl_push(c, up, 1, &version) == 0 && version == 2,
	    "a push of one tensor is applied too: version 2");

	ok(psctl_pull(c, NULL, 0, &t, &n, &version) == 0, "psctl_pull works");
	is_int(n, 2, "it returns both tensors");
	is_int(version, 2, "at version 2");
	good = n == 2 && strcmp(t[0].name, "w") == 0 && t[0].n == 6 &&
	    strcmp(t[1].name, "b") == 0 && t[1].n == 3;
	for (i = 0; good && i < 6; i++)
		good = t[0].data[i] == (float)i + 1.0f;
	for (i = 0; good && i < 3; i++)
		good = t[1].data[i] == -1.0f;
	ok(good, "w is its initial value plus 0.5 twice, b is 1 - 2");

	ok(psctl_pull(c, names, 1, &t, &n, &version) == 0 && n == 1 &&
	    strcmp(t[0].name, "b") == 0 && t[0].data[2] == -1.0f,
	    "a named pull returns just that tensor");

	bad = init[0];
	bad.dims[0] = 3;
	bad.dims[1] = 2;
	bad.data = wrong;
	memset(wrong, 0, sizeof wrong);
	ok(psctl_push(c, &bad, 1, &version) == -1 &&
	    psctl_errcode(c) == PSCTL_E_SERVER && psctl_server_code(c) == 7,
	    "a push of the wrong shape is refused with shape (7)");
	diag("%s", psctl_error(c));
	wrong[4] = NAN;
	bad.dims[0] = 2;
	bad.dims[1] = 3;
	ok(psctl_push(c, &bad, 1, &version) == -1 &&
	    psctl_server_code(c) == 8,
	    "a push with a NaN is refused with nonfinite (8)");
	ok(psctl_pull(c, NULL, 0, &t, &n, &version) == 0 && version == 2 &&
	    t[0].data[0] == 1.0f,
	    "the connection is still usable and the model unchanged");

	o.name = "second";
	c2 = psctl_connect(&o, err, sizeof err, NULL);
	ok(c2 != NULL && psctl_worker_id(c2) != id,
	    "a second connection is another worker");
	ok(c2 != NULL && psctl_init(c2, init, 2, &version) == 0 &&
	    version == 2, "its init of the same model gets the current one");
	psctl_close(c2);
	psctl_close(c);

	o.resume_id = id;
	o.resume_secret = secret;
	c = psctl_connect(&o, err, sizeof err, NULL);
	ok(c != NULL && psctl_worker_id(c) == id,
	    "a new connection can resume worker %llu", (unsigned long long)id);
	ok(c != NULL && psctl_push(c, up, 2, &version) == 0 && version == 3,
	    "and push as it");
	psctl_close(c);

	status = tap_serve_stop(&srv, SIGTERM);
	ok(status != -1, "SIGTERM stops the server");
	is_int(status, 0, "with exit status 0");
	ok(tap_serve_logged(&srv, "resumed from"),
	    "the server logged the resume");
	free(dir);
	return exit_status();
}
