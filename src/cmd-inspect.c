/* placeholder until the module lands */
#include "config.h"
#include <stdio.h>
#include "cmd.h"
static int cmd_inspect_exec(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 70; }
const struct ps_cmd_entry ps_cmd_inspect_entry = { "inspect", "[--json] file", "show what a checkpoint holds", cmd_inspect_exec };
