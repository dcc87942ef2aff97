/*
 * What checkpoint-save.c and checkpoint-load.c share: the layout's
 * constants and the header checksum (psctl-checkpoint(5)).  Private to
 * the checkpoint module: only those two files include it.
 */
#ifndef PS_CHECKPOINT_INT_H
#define PS_CHECKPOINT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crc32c.h"

#define CKPT_CHUNK	(8U << 20)	/* bytes per read or write, CRC step */
#define CKPT_CRC_KEY	"\"psctl.crc32c\":\""
#define CKPT_HCRC_KEY	"\"psctl.header_crc32c\":\""
#define CKPT_ZEROS	"00000000"

/*
 * CRC-32C of the len header bytes (the 8-byte length and the padded JSON)
 * with the 8 digits at offset at counted as "00000000".
 */
static inline uint32_t
ckpt_header_crc(const char *hdr, size_t len, size_t at)
{
	uint32_t	crc;

	crc = ps_crc32c(0, hdr, at);
	crc = ps_crc32c(crc, CKPT_ZEROS, 8);
	return ps_crc32c(crc, hdr + at + 8, len - at - 8);
}

#endif
