/*
 * libFuzzer harness for the worker-protocol decoder (src/proto.c).
 *
 * Property: every message ps_proto_decode() accepts encodes back, through
 * ps_proto_encode() and the views it produced, to exactly the bytes it was
 * decoded from; the header-only decoder agrees with it; a limit one below
 * the message's size or record count refuses it with PS_E_TOO_LARGE.  An
 * accepted INIT goes on into a store (as the server does with it), and the
 * half-precision records convert to float32 and back unchanged.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "store.h"
#include "tensor.h"

static struct ps_msg	msg;

/* F16 and BF16 data survive float32 and back, NaN aside. */
static void
check_halves(const struct ps_tview *v)
{
	const unsigned char	*p = v->data;
	unsigned char		 back[2];
	float			 f;
	size_t			 i;

	for (i = 0; i + 2 <= v->nbytes; i += 2) {
		if (v->dtype == PS_DTYPE_F16) {
			ps_f16_to_f32(p + i, &f, 1);
			if (isnan(f))
				continue;
			ps_f32_to_f16(&f, back, 1);
		} else {
			ps_bf16_to_f32(p + i, &f, 1);
			if (isnan(f))
				continue;
			ps_f32_to_bf16(&f, back, 1);
		}
		fuzz_check(memcmp(back, p + i, 2) == 0,
		    "a half-precision value converts back unchanged");
	}
}

/* What the server does with an INIT: a store from its records. */
static void
init_store(const struct ps_msg *m)
{
	struct ps_rule	 rule;
	struct ps_store	*s;
	char		*cause = NULL;
	int		 code;

	ps_rule_defaults(&rule, PS_RULE_ADD);
	s = ps_store_new(&rule);
	if (ps_store_init(s, m->t, m->count, &code, &cause) == 0) {
		fuzz_check(ps_store_count(s) == m->count,
		    "an accepted init keeps every record");
		fuzz_check(ps_store_matches(s, m->t, m->count, &code,
		    &cause) == 0, "an init matches the model it made");
	} else
		fuzz_check(cause != NULL && code != PS_E_OK,
		    "a refused init says why");
	free(cause);
	ps_store_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ps_msg_hdr	 h, hh;
	struct ps_limits	 lim;
	unsigned char		*out;
	char			 err[256];
	size_t			 size, n, i;
	int			 code, rc;

	rc = ps_proto_decode(data, len, NULL, &msg, &code, err, sizeof err);
	if (rc != 0) {
		fuzz_check(rc == -1, "decode fails with -1 (not out of memory)");
		fuzz_check(code != PS_E_OK && err[0] != '\0',
		    "a refusal has a code and a reason");
		fuzz_check(msg.count == 0, "a refused message has no records");
		return 0;
	}
	fuzz_check(code == PS_E_OK, "an accepted message has code OK");
	fuzz_check(ps_proto_decode_hdr(data, len, &hh, err, sizeof err) == 0,
	    "the header decoder accepts what the decoder accepts");
	fuzz_check(hh.op == msg.h.op && hh.flags == msg.h.flags &&
	    hh.status == msg.h.status && hh.id == msg.h.id &&
	    hh.version == msg.h.version && hh.arg == msg.h.arg &&
	    hh.count == msg.h.count && hh.textlen == msg.h.textlen,
	    "both decoders read the same header");

	/* Re-encode: the same bytes. */
	size = ps_proto_size(msg.textlen, msg.t, msg.count);
	fuzz_check(size == len, "the encoded size is the message's size");
	out = malloc(size);
	fuzz_check(out != NULL, "memory for the copy");
	h = msg.h;
	n = ps_proto_encode(out, size, &h, msg.text, msg.textlen, msg.t,
	    msg.count);
	fuzz_check(n == len, "the message encodes to its own length");
	fuzz_check(memcmp(out, data, len) == 0,
	    "the message encodes to its own bytes");
	fuzz_check(ps_proto_encode(out, size - 1, &h, msg.text, msg.textlen,
	    msg.t, msg.count) == 0, "a buffer one byte short is refused");
	free(out);
	for (i = 0; i < msg.count; i++) {
		fuzz_check(ps_proto_record_size(&msg.t[i]) <= len,
		    "a record fits in its message");
		if (msg.t[i].dtype == PS_DTYPE_F16 ||
		    msg.t[i].dtype == PS_DTYPE_BF16)
			check_halves(&msg.t[i]);
	}

	if (msg.h.op == PS_OP_INIT)
		init_store(&msg);

	/* Limits just below the message refuse it, before anything else. */
	n = msg.count;
	memset(&lim, 0, sizeof lim);
	lim.max_message = len - 1;	/* len >= 40 */
	fuzz_check(ps_proto_decode(data, len, &lim, &msg, &code, err,
	    sizeof err) == -1 && code == PS_E_TOO_LARGE,
	    "a message over max_message is too large");
	if (n > 1) {		/* (0 would mean no limit) */
		lim.max_message = 0;
		lim.max_tensors = n - 1;
		fuzz_check(ps_proto_decode(data, len, &lim, &msg, &code, err,
		    sizeof err) == -1 && code == PS_E_TOO_LARGE,
		    "a message over max_tensors is too large");
	}
	return 0;
}
