/*
 * Loads each checkpoint named on the command line with ps_ckpt_load(),
 * as psctl serve --load would, and says which do not verify.  A helper of
 * tests/t-ckpt-kill.py.  Exits 0 when every file loads.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "store.h"

int
main(int argc, char **argv)
{
	struct ps_ckpt_info	 info;
	struct ps_store		*s;
	char			*cause;
	int			 i, bad = 0;

	for (i = 1; i < argc; i++) {
		cause = NULL;
		s = ps_ckpt_load(argv[i], NULL, &info, &cause);
		if (s == NULL) {
			printf("%s: %s\n", argv[i], cause);
			free(cause);
			bad++;
			continue;
		}
		printf("%s: version %llu, %zu tensors\n", argv[i],
		    (unsigned long long)ps_store_version(s),
		    ps_store_count(s));
		ps_store_free(s);
	}
	return bad > 0;
}
