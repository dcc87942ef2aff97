/*
 * psctl top -b: plain-text frames for scripts and logs, in the words the
 * curses views use (text.h).  No curses here.
 */
#ifndef PS_TOP_BATCH_H
#define PS_TOP_BATCH_H

#include <stdio.h>

#include "model.h"

/*
 * Prints one whole frame of the model at now, plain text, to fp, and
 * flushes it; frames end with an empty line.  frame is the frame's
 * number, from 1, shown on the first line.  Write errors are left in fp's
 * error indicator for the caller.
 */
void	 ps_batch_frame(FILE *, const struct ps_top_model *, double now,
	     unsigned long frame);

#endif
