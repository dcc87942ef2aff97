/*
 * Update rules: how a pushed update changes the model (psctl-serve(1),
 * UPDATE RULES).  The one home of each rule's name, its parameters with
 * their defaults and limits, and their JSON in both directions (checkpoint
 * metadata, the STATUS reply, psctl inspect).  The arithmetic itself is
 * store.c's and kernel.c's.  No I/O, no state: any thread.
 *
 * Adding a rule: its kind below, its row in rule.c's tables (name, the
 * parameters it uses, its optimizer state), its arithmetic in store.c,
 * and its paragraph in psctl-serve(1).  A new parameter also needs its
 * field below, its row in rule.c and its option in cmd-serve.c.
 */
#ifndef PS_RULE_H
#define PS_RULE_H

#include <stddef.h>

struct json_t;

enum ps_rule_kind {
	PS_RULE_ADD = 0,	/* w += u */
	PS_RULE_ELEPHAS,	/* w -= u (Elephas's delta = old - new) */
	PS_RULE_SGD,		/* w -= lr * g */
	PS_RULE_MOMENTUM,	/* v = mu v + g; w -= lr (nesterov ? g + mu v : v) */
	PS_RULE_ADAM		/* bias-corrected Adam, step t per tensor */
};
#define PS_RULE_COUNT	5

/* The rules' names, as usage and messages list them (rule.c checks). */
#define PS_RULE_USAGE	"add | elephas | sgd | momentum | adam"

struct ps_rule {
	enum ps_rule_kind kind;
	double		 lr;		/* sgd, momentum, adam; default 0.01 */
	double		 momentum;	/* momentum; default 0.9 */
	int		 nesterov;	/* momentum; default 0 */
	double		 beta1;		/* adam; default 0.9 */
	double		 beta2;		/* adam; default 0.999 */
	double		 eps;		/* adam; default 1e-8 */
};

/* Fills r with kind and every parameter's default. */
void		 ps_rule_defaults(struct ps_rule *, enum ps_rule_kind);
/* Parses a rule's name ("add" ... "adam"): 0, or -1 if unknown. */
int		 ps_rule_parse(const char *, enum ps_rule_kind *);
/* The rule's name; "unknown" for a kind out of range. */
const char	*ps_rule_name(enum ps_rule_kind);
/* "add, elephas, sgd, momentum or adam": static, for messages. */
const char	*ps_rule_names(void);
/* 1 when the rule keeps m (momentum, adam) / v (adam) state. */
int		 ps_rule_has_m(enum ps_rule_kind);
int		 ps_rule_has_v(enum ps_rule_kind);
/*
 * Checks that r can be served: a known kind, lr finite and >= 0, momentum
 * in [0, 1], beta1 and beta2 in [0, 1), eps finite and > 0 (every
 * parameter, used by the rule or not).  Returns 0, or -1 with *cause
 * (allocated, caller frees) naming the parameter: "lr -1 is not a finite
 * number >= 0".
 */
int		 ps_rule_check(const struct ps_rule *, char **cause);

/*
 * The rules' parameters, for a command line: each one's name (the
 * option's, without "--", and the JSON key), whether it is a flag, and
 * the range an operator may give (lr above 0 and at most 1e6; momentum,
 * beta1 and beta2 from 0 to below 1; eps above 0 and at most 1), tighter
 * than what ps_rule_check() accepts from a file.
 */
#define PS_RULE_NPARAMS	6
struct ps_rule_param {
	const char	*name;
	int		 flag;		/* set by naming it: no value */
	double		 min;
	double		 max;
	int		 above_min;	/* min itself is out of range */
	int		 below_max;	/* max itself is out of range */
};
/* Parameter i (0 .. PS_RULE_NPARAMS - 1), in a fixed order; else NULL. */
const struct ps_rule_param *ps_rule_param(size_t i);
/*
 * Sets parameter name to v (for a flag, v != 0 sets it), if r->kind uses
 * it.  Returns 0, or -1 with *cause (allocated, caller frees) beginning
 * with the name: "lr applies to the sgd, momentum and adam rules, not
 * add", "rho: unknown parameter".  The range is the caller's to check
 * (ps_rule_check() checks the result).  r is unchanged on -1.
 */
int		 ps_rule_set(struct ps_rule *, const char *name, double v,
		     char **cause);

/*
 * The parameters r->kind uses, in a fixed order, as a new JSON object
 * (caller json_decref()s): {} for add and elephas, {"lr": 0.01} for sgd.
 * Numbers are JSON reals, flags booleans.
 */
struct json_t	*ps_rule_params_json(const struct ps_rule *);
/*
 * The same as compact JSON text (caller frees), each number with the
 * fewest significant digits (15 to 17) that read back exactly: the
 * checkpoint's psctl.rule_params.
 */
char		*ps_rule_params_text(const struct ps_rule *);
/*
 * Reads the members of a JSON object (borrowed) into r, over what r
 * holds (its defaults), then ps_rule_check()s the result.  Returns 0, or -1 with
 * *cause (allocated, caller frees): "not a JSON object", "unknown
 * parameter \"x\"" (quoted for one line of output), "\"lr\" has the wrong
 * type", or ps_rule_check()'s.  r may be partly written on -1.
 */
int		 ps_rule_params_from_json(struct ps_rule *, struct json_t *,
		     char **cause);
/*
 * Writes "adam (lr 0.001, beta1 0.9, beta2 0.999, eps 1e-08)" into buf
 * (always NUL-terminated, truncated to len): the name, then the
 * parameters the rule uses (%g; a flag only when set, by its name).
 */
void		 ps_rule_format(const struct ps_rule *, char *buf, size_t len);

#endif
