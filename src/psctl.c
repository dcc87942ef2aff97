/*
 * psctl: a parameter server for distributed training.  main() only picks
 * the subcommand; each lives in its own cmd-*.c.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"

static void
usage(FILE *fp)
{
	const struct ps_cmd_entry *const *e;

	fprintf(fp, "usage: psctl [--help | --version] command [args ...]\n"
	    "       psctl help command\n\ncommands:\n");
	for (e = ps_cmd_table; *e != NULL; e++)
		fprintf(fp, "  %-10s %s\n", (*e)->name, (*e)->summary);
	fprintf(fp, "\nSee psctl(1) and psctl help COMMAND.\n");
}

int
main(int argc, char **argv)
{
	const struct ps_cmd_entry	*e;

	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("psctl %s\n", PSCTL_VERSION);
		return EX_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return EX_OK;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc < 3) {
			usage(stdout);
			return EX_OK;
		}
		if ((e = ps_cmd_find(argv[2])) == NULL) {
			fprintf(stderr, "psctl: unknown command: %s\n", argv[2]);
			return EX_USAGE;
		}
		printf("psctl %s: %s\n", e->name, e->summary);
		ps_cmd_usage(e, stdout);
		return EX_OK;
	}
	if ((e = ps_cmd_find(argv[1])) == NULL) {
		fprintf(stderr, "psctl: unknown command: %s\n", argv[1]);
		usage(stderr);
		return EX_USAGE;
	}
	return e->exec(argc - 1, argv + 1);
}
