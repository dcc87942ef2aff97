/*
 * Update rules (rule.h): two tables, one row per rule and one per
 * parameter, and the few functions that read them.  No I/O, no state.
 */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rule.h"
#include "utf8.h"
#include "xmalloc.h"

#define RULE_BIT(k)	(1U << (k))
#define RULE_QUOTE_MAX	96	/* bytes of an untrusted key quoted */

/* A range of numbers: [lo, hi], either end open. */
struct rule_range {
	double		 lo;
	int		 lo_open;
	double		 hi;
	int		 hi_open;
	const char	*text;		/* "in [0, 1)" */
};

/* One parameter: its name (option and JSON key), who uses it, its limits. */
struct rule_param {
	struct ps_rule_param pub;	/* name, flag, an operator's range */
	unsigned	 rules;		/* RULE_BIT() of each rule using it */
	size_t		 off;		/* in struct ps_rule: double, or int */
	double		 def;
	struct rule_range valid;	/* what ps_rule_check() accepts */
	const char	*users;		/* "the sgd, momentum and adam rules" */
};

/* One rule, indexed by enum ps_rule_kind. */
struct rule_def {
	const char	*name;
	int		 has_m;
	int		 has_v;
};

static const struct rule_def rule_defs[PS_RULE_COUNT] = {
	[PS_RULE_ADD] =		{ "add", 0, 0 },
	[PS_RULE_ELEPHAS] =	{ "elephas", 0, 0 },
	[PS_RULE_SGD] =		{ "sgd", 0, 0 },
	[PS_RULE_MOMENTUM] =	{ "momentum", 1, 0 },
	[PS_RULE_ADAM] =	{ "adam", 1, 1 }
};

/* Must match PS_RULE_USAGE and rule_defs (checked by ps_rule_names()). */
static const char rule_names[] = "add, elephas, sgd, momentum or adam";

#define RULE_FINITE_GE0	{ 0, 0, INFINITY, 1, "a finite number >= 0" }
#define RULE_FINITE_GT0	{ 0, 1, INFINITY, 1, "a finite number > 0" }
#define RULE_UNIT	{ 0, 0, 1, 0, "in [0, 1]" }
#define RULE_UNIT_OPEN	{ 0, 0, 1, 1, "in [0, 1)" }
#define RULE_NONE	{ 0, 0, 0, 0, NULL }

/* The JSON and the formats list them in this order. */
static const struct rule_param rule_params[PS_RULE_NPARAMS] = {
	{ { "lr", 0, 0, 1e6, 1, 0 }, RULE_BIT(PS_RULE_SGD) |
	    RULE_BIT(PS_RULE_MOMENTUM) | RULE_BIT(PS_RULE_ADAM),
	    offsetof(struct ps_rule, lr), 0.01, RULE_FINITE_GE0,
	    "the sgd, momentum and adam rules" },
	{ { "momentum", 0, 0, 1, 0, 1 }, RULE_BIT(PS_RULE_MOMENTUM),
	    offsetof(struct ps_rule, momentum), 0.9, RULE_UNIT,
	    "the momentum rule" },
	{ { "nesterov", 1, 0, 0, 0, 0 }, RULE_BIT(PS_RULE_MOMENTUM),
	    offsetof(struct ps_rule, nesterov), 0, RULE_NONE,
	    "the momentum rule" },
	{ { "beta1", 0, 0, 1, 0, 1 }, RULE_BIT(PS_RULE_ADAM),
	    offsetof(struct ps_rule, beta1), 0.9, RULE_UNIT_OPEN,
	    "the adam rule" },
	{ { "beta2", 0, 0, 1, 0, 1 }, RULE_BIT(PS_RULE_ADAM),
	    offsetof(struct ps_rule, beta2), 0.999, RULE_UNIT_OPEN,
	    "the adam rule" },
	{ { "eps", 0, 0, 1, 1, 0 }, RULE_BIT(PS_RULE_ADAM),
	    offsetof(struct ps_rule, eps), 1e-8, RULE_FINITE_GT0,
	    "the adam rule" }
};
#define RULE_NPARAMS	PS_RULE_NPARAMS

static const struct rule_param *rule_param_find(const char *);
static int	 rule_uses(enum ps_rule_kind, const struct rule_param *);
static double	*rule_num(struct ps_rule *, const struct rule_param *);
static int	*rule_flag(struct ps_rule *, const struct rule_param *);
static double	 rule_get(const struct ps_rule *, const struct rule_param *);
static int	 rule_in(const struct rule_range *, double);
static int	 rule_precision(const double *, size_t);

static const struct rule_param *
rule_param_find(const char *name)
{
	size_t	i;

	for (i = 0; i < RULE_NPARAMS; i++) {
		if (strcmp(rule_params[i].pub.name, name) == 0)
			return &rule_params[i];
	}
	return NULL;
}

static int
rule_uses(enum ps_rule_kind kind, const struct rule_param *p)
{
	return (unsigned)kind < PS_RULE_COUNT &&
	    (p->rules & RULE_BIT(kind)) != 0;
}

static double *
rule_num(struct ps_rule *r, const struct rule_param *p)
{
	return (double *)(void *)((char *)r + p->off);
}

static int *
rule_flag(struct ps_rule *r, const struct rule_param *p)
{
	return (int *)(void *)((char *)r + p->off);
}

/* A parameter's value as a double (a flag: 0 or 1). */
static double
rule_get(const struct ps_rule *r, const struct rule_param *p)
{
	const char	*base = (const char *)r + p->off;

	if (p->pub.flag)
		return *(const int *)(const void *)base;
	return *(const double *)(const void *)base;
}

/* 1 when v is in the range (never for NaN). */
static int
rule_in(const struct rule_range *g, double v)
{
	if (!(g->lo_open ? v > g->lo : v >= g->lo))
		return 0;
	if (!(g->hi_open ? v < g->hi : v <= g->hi))
		return 0;
	return 1;
}

void
ps_rule_defaults(struct ps_rule *r, enum ps_rule_kind kind)
{
	const struct rule_param	*p;
	size_t			 i;

	memset(r, 0, sizeof *r);
	r->kind = kind;
	for (i = 0; i < RULE_NPARAMS; i++) {
		p = &rule_params[i];
		if (p->pub.flag)
			*rule_flag(r, p) = (int)p->def;
		else
			*rule_num(r, p) = p->def;
	}
}

int
ps_rule_parse(const char *s, enum ps_rule_kind *kind)
{
	size_t	i;

	for (i = 0; i < PS_RULE_COUNT; i++) {
		if (strcmp(s, rule_defs[i].name) == 0) {
			*kind = (enum ps_rule_kind)i;
			return 0;
		}
	}
	return -1;
}

const char *
ps_rule_name(enum ps_rule_kind kind)
{
	if ((unsigned)kind >= PS_RULE_COUNT)
		return "unknown";
	return rule_defs[kind].name;
}

const char *
ps_rule_names(void)
{
	return rule_names;
}

int
ps_rule_has_m(enum ps_rule_kind kind)
{
	return (unsigned)kind < PS_RULE_COUNT && rule_defs[kind].has_m;
}

int
ps_rule_has_v(enum ps_rule_kind kind)
{
	return (unsigned)kind < PS_RULE_COUNT && rule_defs[kind].has_v;
}

int
ps_rule_check(const struct ps_rule *r, char **cause)
{
	const struct rule_param	*p;
	size_t			 i;
	double			 v;

	if ((unsigned)r->kind >= PS_RULE_COUNT) {
		*cause = xasprintf("unknown update rule %d", (int)r->kind);
		return -1;
	}
	for (i = 0; i < RULE_NPARAMS; i++) {
		p = &rule_params[i];
		if (p->pub.flag)
			continue;
		v = rule_get(r, p);
		if (!rule_in(&p->valid, v)) {
			*cause = xasprintf("%s %g is not %s", p->pub.name, v,
			    p->valid.text);
			return -1;
		}
	}
	return 0;
}

const struct ps_rule_param *
ps_rule_param(size_t i)
{
	if (i >= RULE_NPARAMS)
		return NULL;
	return &rule_params[i].pub;
}

int
ps_rule_set(struct ps_rule *r, const char *name, double v, char **cause)
{
	const struct rule_param	*p;

	if ((p = rule_param_find(name)) == NULL) {
		*cause = xasprintf("%s: unknown parameter", name);
		return -1;
	}
	if (!rule_uses(r->kind, p)) {
		*cause = xasprintf("%s applies to %s, not %s", name, p->users,
		    ps_rule_name(r->kind));
		return -1;
	}
	if (p->pub.flag)
		*rule_flag(r, p) = v != 0;
	else
		*rule_num(r, p) = v;
	return 0;
}

json_t *
ps_rule_params_json(const struct ps_rule *r)
{
	const struct rule_param	*p;
	json_t			*o, *v;
	size_t			 i;

	if ((o = json_object()) == NULL)
		fatalx("%s: out of memory", __func__);
	for (i = 0; i < RULE_NPARAMS; i++) {
		p = &rule_params[i];
		if (!rule_uses(r->kind, p))
			continue;
		if (p->pub.flag)
			v = json_boolean(rule_get(r, p) != 0);
		else
			v = json_real(rule_get(r, p));
		/* json_real() refuses NaN and infinities: a rule never has them. */
		if (v == NULL || json_object_set_new(o, p->pub.name, v) != 0)
			fatalx("%s: %s = %g", __func__, p->pub.name,
			    rule_get(r, p));
	}
	return o;
}

/* The fewest significant digits (15..17) that print every value exactly. */
static int
rule_precision(const double *x, size_t n)
{
	char	buf[64];
	int	p;
	size_t	i;

	for (p = 15; p < 17; p++) {
		for (i = 0; i < n; i++) {
			snprintf(buf, sizeof buf, "%.*g", p, x[i]);
			if (strtod(buf, NULL) != x[i])
				break;
		}
		if (i == n)
			return p;
	}
	return 17;
}

char *
ps_rule_params_text(const struct ps_rule *r)
{
	const struct rule_param	*p;
	json_t			*o;
	double			 x[RULE_NPARAMS];
	size_t			 i, n = 0;
	char			*s;

	for (i = 0; i < RULE_NPARAMS; i++) {
		p = &rule_params[i];
		if (rule_uses(r->kind, p) && !p->pub.flag)
			x[n++] = rule_get(r, p);
	}
	o = ps_rule_params_json(r);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(rule_precision(x, n)));
	json_decref(o);
	if (s == NULL)
		fatalx("%s: json_dumps failed", __func__);
	return s;
}

int
ps_rule_params_from_json(struct ps_rule *r, json_t *o, char **cause)
{
	const struct rule_param	*p;
	const char		*key;
	json_t			*v;
	char			 q[RULE_QUOTE_MAX];

	if (!json_is_object(o)) {
		*cause = xstrdup("not a JSON object");
		return -1;
	}
	json_object_foreach(o, key, v) {
		if ((p = rule_param_find(key)) == NULL) {
			*cause = xasprintf("unknown parameter %s",
			    ps_utf8_quote(key, q, sizeof q));
			return -1;
		}
		if (p->pub.flag) {
			if (!json_is_boolean(v))
				goto bad;
			*rule_flag(r, p) = json_is_true(v);
		} else {
			if (!json_is_number(v))
				goto bad;
			*rule_num(r, p) = json_number_value(v);
		}
	}
	return ps_rule_check(r, cause);

bad:
	*cause = xasprintf("%s has the wrong type",
	    ps_utf8_quote(key, q, sizeof q));
	return -1;
}

void
ps_rule_format(const struct ps_rule *r, char *buf, size_t len)
{
	const struct rule_param	*p;
	size_t			 i, off;
	int			 k, first = 1;
	double			 v;

	if (len == 0)
		return;
	k = snprintf(buf, len, "%s", ps_rule_name(r->kind));
	for (i = 0; i < RULE_NPARAMS && k >= 0; i++) {
		p = &rule_params[i];
		if (!rule_uses(r->kind, p))
			continue;
		v = rule_get(r, p);
		if (p->pub.flag && v == 0)
			continue;
		off = strlen(buf);
		if (p->pub.flag)
			k = snprintf(buf + off, len - off, "%s%s",
			    first ? " (" : ", ", p->pub.name);
		else
			k = snprintf(buf + off, len - off, "%s%s %g",
			    first ? " (" : ", ", p->pub.name, v);
		first = 0;
	}
	off = strlen(buf);
	if (!first)
		snprintf(buf + off, len - off, ")");
}
