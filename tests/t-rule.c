/*
 * Update rules (rule.h): names, defaults, the limits of a served rule and
 * of an operator's option, and the parameters' JSON both ways.
 */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"
#include "tap.h"

#define C(s)	((s) != NULL ? (s) : "(null)")

/* ps_rule_set() on a fresh rule of kind; returns the cause or "". */
static char *
set(enum ps_rule_kind kind, const char *name, double v, struct ps_rule *r)
{
	static char	 buf[256];
	char		*cause = NULL;

	ps_rule_defaults(r, kind);
	buf[0] = '\0';
	if (ps_rule_set(r, name, v, &cause) != 0) {
		snprintf(buf, sizeof buf, "%s", C(cause));
		free(cause);
	}
	return buf;
}

/* ps_rule_params_from_json() of text onto kind's defaults. */
static char *
from(enum ps_rule_kind kind, const char *text, struct ps_rule *r)
{
	static char	 buf[256];
	json_t		*o;
	char		*cause = NULL;

	ps_rule_defaults(r, kind);
	buf[0] = '\0';
	if ((o = json_loads(text, 0, NULL)) == NULL)
		bail_out("bad test JSON %s", text);
	if (ps_rule_params_from_json(r, o, &cause) != 0) {
		snprintf(buf, sizeof buf, "%s", cause != NULL ? cause : "?");
		free(cause);
	}
	json_decref(o);
	return buf;
}

static void
test_names(void)
{
	enum ps_rule_kind	k, back;
	char			usage[128] = "", list[128] = "";
	int			i, ok_all = 1;

	for (i = 0; i < PS_RULE_COUNT; i++) {
		k = (enum ps_rule_kind)i;
		if (ps_rule_parse(ps_rule_name(k), &back) != 0 || back != k)
			ok_all = 0;
		snprintf(usage + strlen(usage), sizeof usage - strlen(usage),
		    "%s%s", i > 0 ? " | " : "", ps_rule_name(k));
		snprintf(list + strlen(list), sizeof list - strlen(list),
		    "%s%s", i == 0 ? "" : i == PS_RULE_COUNT - 1 ? " or " :
		    ", ", ps_rule_name(k));
	}
	ok(ok_all, "every rule's name parses back to it");
	is_str(PS_RULE_USAGE, usage, "PS_RULE_USAGE lists the rules");
	is_str(ps_rule_names(), list, "ps_rule_names() lists the rules");
	ok(ps_rule_parse("rmsprop", &back) == -1, "an unknown name is refused");
	is_str(ps_rule_name((enum ps_rule_kind)99), "unknown",
	    "a kind out of range is \"unknown\"");
	ok(!ps_rule_has_m(PS_RULE_SGD) && ps_rule_has_m(PS_RULE_MOMENTUM) &&
	    ps_rule_has_m(PS_RULE_ADAM) && !ps_rule_has_v(PS_RULE_MOMENTUM) &&
	    ps_rule_has_v(PS_RULE_ADAM), "momentum keeps m, adam m and v");
}

static void
test_defaults_check(void)
{
	struct ps_rule	r;
	char		*cause = NULL;

	ps_rule_defaults(&r, PS_RULE_ADAM);
	ok(r.kind == PS_RULE_ADAM && r.lr == 0.01 && r.momentum == 0.9 &&
	    r.nesterov == 0 && r.beta1 == 0.9 && r.beta2 == 0.999 &&
	    r.eps == 1e-8, "the defaults (psctl-serve(1))");
	ok(ps_rule_check(&r, &cause) == 0, "the defaults pass the check");

	r.lr = 0;
	ok(ps_rule_check(&r, &cause) == 0, "a served lr may be 0");
	free(cause);
	cause = NULL;
	r.lr = -1;
	ok(ps_rule_check(&r, &cause) == -1 && cause != NULL &&
	    strcmp(cause, "lr -1 is not a finite number >= 0") == 0,
	    "a negative lr is refused (%s)", C(cause));
	free(cause);
	cause = NULL;
	ps_rule_defaults(&r, PS_RULE_SGD);
	r.lr = NAN;
	ok(ps_rule_check(&r, &cause) == -1, "a NaN lr is refused (%s)",
	    C(cause));
	free(cause);
	cause = NULL;
	ps_rule_defaults(&r, PS_RULE_MOMENTUM);
	r.momentum = 1;
	ok(ps_rule_check(&r, &cause) == 0, "a served momentum may be 1");
	r.momentum = 1.5;
	ok(ps_rule_check(&r, &cause) == -1 &&
	    strcmp(cause, "momentum 1.5 is not in [0, 1]") == 0,
	    "momentum over 1 is refused (%s)", C(cause));
	free(cause);
	cause = NULL;
	ps_rule_defaults(&r, PS_RULE_ADAM);
	r.beta2 = 1;
	ok(ps_rule_check(&r, &cause) == -1 &&
	    strcmp(cause, "beta2 1 is not in [0, 1)") == 0,
	    "beta2 of 1 is refused (%s)", C(cause));
	free(cause);
	cause = NULL;
	ps_rule_defaults(&r, PS_RULE_ADAM);
	r.eps = 0;
	ok(ps_rule_check(&r, &cause) == -1 &&
	    strcmp(cause, "eps 0 is not a finite number > 0") == 0,
	    "eps 0 is refused (%s)", C(cause));
	free(cause);
	cause = NULL;
	r.eps = 1e-8;
	r.kind = (enum ps_rule_kind)7;
	ok(ps_rule_check(&r, &cause) == -1 &&
	    strcmp(cause, "unknown update rule 7") == 0,
	    "an unknown kind is refused");
	free(cause);
}

/* The operator's range of parameter name, as "(0, 1e+06]". */
static const char *
range(const char *name)
{
	static char			 buf[64];
	const struct ps_rule_param	*p;
	size_t				 i;

	for (i = 0; (p = ps_rule_param(i)) != NULL; i++) {
		if (strcmp(p->name, name) != 0)
			continue;
		if (p->flag)
			return "flag";
		snprintf(buf, sizeof buf, "%c%g, %g%c", p->above_min ? '(' :
		    '[', p->min, p->max, p->below_max ? ')' : ']');
		return buf;
	}
	return "none";
}

static void
test_set(void)
{
	struct ps_rule	r;
	size_t		i;

	for (i = 0; ps_rule_param(i) != NULL; i++)
		/* nothing */;
	is_int(i, PS_RULE_NPARAMS, "PS_RULE_NPARAMS parameters");
	is_str(range("lr"), "(0, 1e+06]", "an operator's lr: above 0, at "
	    "most 1e6");
	is_str(range("momentum"), "[0, 1)", "momentum: from 0 to below 1");
	is_str(range("nesterov"), "flag", "nesterov is a flag");
	is_str(range("beta1"), "[0, 1)", "beta1: from 0 to below 1");
	is_str(range("beta2"), "[0, 1)", "beta2: from 0 to below 1");
	is_str(range("eps"), "(0, 1]", "eps: above 0, at most 1");

	is_str(set(PS_RULE_SGD, "lr", 0.5, &r), "", "--lr 0.5 with sgd");
	ok(r.lr == 0.5, "sets lr");
	is_str(set(PS_RULE_ADD, "lr", 0.1, &r), "lr applies to the sgd, "
	    "momentum and adam rules, not add", "--lr with add is refused");
	ok(r.lr == 0.01, "and leaves the rule as it was");
	is_str(set(PS_RULE_MOMENTUM, "momentum", 0.8, &r), "",
	    "--momentum 0.8");
	ok(r.momentum == 0.8 && r.lr == 0.01, "sets momentum, lr stays");
	is_str(set(PS_RULE_MOMENTUM, "nesterov", 1, &r), "", "--nesterov");
	ok(r.nesterov == 1, "sets nesterov");
	is_str(set(PS_RULE_SGD, "nesterov", 1, &r), "nesterov applies to "
	    "the momentum rule, not sgd", "--nesterov with sgd is refused");
	is_str(set(PS_RULE_ADAM, "beta2", 0.99, &r), "", "--beta2 0.99");
	ok(r.beta2 == 0.99, "sets beta2");
	is_str(set(PS_RULE_MOMENTUM, "beta1", 0.5, &r), "beta1 applies to "
	    "the adam rule, not momentum", "--beta1 with momentum is refused");
	is_str(set(PS_RULE_ADAM, "rho", 1, &r), "rho: unknown parameter",
	    "an unknown parameter is refused");
}

static void
test_json(void)
{
	struct ps_rule	 r, back;
	json_t		*o;
	char		*s, fmt[128];

	ps_rule_defaults(&r, PS_RULE_ADD);
	s = ps_rule_params_text(&r);
	is_str(s, "{}", "add has no parameters");
	free(s);
	ps_rule_defaults(&r, PS_RULE_SGD);
	r.lr = 0.1;
	s = ps_rule_params_text(&r);
	is_str(s, "{\"lr\":0.1}", "sgd: lr, shortest digits");
	free(s);
	ps_rule_defaults(&r, PS_RULE_MOMENTUM);
	r.nesterov = 1;
	s = ps_rule_params_text(&r);
	is_str(s, "{\"lr\":0.01,\"momentum\":0.9,\"nesterov\":true}",
	    "momentum: lr, momentum, nesterov, in that order");
	free(s);
	ps_rule_defaults(&r, PS_RULE_ADAM);
	r.lr = 1.0 / 3;
	s = ps_rule_params_text(&r);
	is_str(from(PS_RULE_ADAM, s, &back), "", "adam's text reads back");
	ok(back.lr == r.lr && back.beta1 == r.beta1 && back.beta2 == r.beta2 &&
	    back.eps == r.eps, "exactly (%s)", s);
	free(s);

	o = ps_rule_params_json(&r);
	ok(json_object_size(o) == 4 && json_is_real(json_object_get(o, "lr")) &&
	    json_real_value(json_object_get(o, "beta2")) == 0.999,
	    "the JSON object holds adam's four parameters");
	json_decref(o);

	is_str(from(PS_RULE_SGD, "{\"lr\": 0.5, \"learning_rate_decay\": 1}",
	    &back), "unknown parameter \"learning_rate_decay\"",
	    "an unknown parameter is refused and quoted");
	is_str(from(PS_RULE_SGD, "{\"a\\u001b[2Jb\": 1}", &back),
	    "unknown parameter \"a\\x1b[2Jb\"",
	    "its name cannot reach a terminal raw");
	is_str(from(PS_RULE_MOMENTUM, "{\"nesterov\": 1}", &back),
	    "\"nesterov\" has the wrong type", "a flag must be a boolean");
	is_str(from(PS_RULE_SGD, "{\"lr\": \"0.1\"}", &back),
	    "\"lr\" has the wrong type", "a number must be a number");
	is_str(from(PS_RULE_SGD, "{\"lr\": -1}", &back),
	    "lr -1 is not a finite number >= 0", "the result is checked");
	is_str(from(PS_RULE_SGD, "[]", &back), "not a JSON object",
	    "an array is refused");
	is_str(from(PS_RULE_MOMENTUM, "{\"lr\": 2}", &back), "",
	    "a file's lr is not held to an operator's limits");
	ok(back.lr == 2 && back.momentum == 0.9,
	    "members missing from the file keep their defaults");

	ps_rule_defaults(&r, PS_RULE_ADAM);
	r.lr = 0.001;
	r.beta1 = 0.8;
	r.beta2 = 0.99;
	r.eps = 1e-7;
	ps_rule_format(&r, fmt, sizeof fmt);
	is_str(fmt, "adam (lr 0.001, beta1 0.8, beta2 0.99, eps 1e-07)",
	    "adam formats as psctl inspect prints it");
	ps_rule_defaults(&r, PS_RULE_MOMENTUM);
	r.nesterov = 1;
	ps_rule_format(&r, fmt, sizeof fmt);
	is_str(fmt, "momentum (lr 0.01, momentum 0.9, nesterov)",
	    "a flag is named when set");
	r.nesterov = 0;
	ps_rule_format(&r, fmt, sizeof fmt);
	is_str(fmt, "momentum (lr 0.01, momentum 0.9)",
	    "and left out when not");
	ps_rule_defaults(&r, PS_RULE_ELEPHAS);
	ps_rule_format(&r, fmt, sizeof fmt);
	is_str(fmt, "elephas", "a rule without parameters is its name");
	ps_rule_defaults(&r, PS_RULE_ADAM);
	ps_rule_format(&r, fmt, 10);
	is_str(fmt, "adam (lr ", "a short buffer truncates");
}

int
main(void)
{
	test_names();
	test_defaults_check();
	test_set();
	test_json();
	done_testing();
	return exit_status();
}
