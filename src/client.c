/* placeholder until the module lands */
#include "config.h"
#include "psctl.h"
void psctl_close(struct psctl *c) { (void)c; }
