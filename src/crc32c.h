/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as in iSCSI, ext4
 * and psctl's checkpoints.  Hardware-accelerated with the SSE4.2 crc32
 * instruction on x86-64 when the CPU has it (three interleaved streams),
 * table-driven (slicing by 8) elsewhere.  Thread-safe; the tables are built
 * once, on the first call, under pthread_once().
 */
#ifndef PS_CRC32C_H
#define PS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extends crc (start with 0) over len bytes, so that
 * ps_crc32c(ps_crc32c(0, a, n), b, m) is the CRC of a followed by b.
 * crc32c("123456789") = 0xe3069283.
 */
uint32_t	ps_crc32c(uint32_t crc, const void *buf, size_t len);
/* The table-driven implementation, whatever the CPU (for tests). */
uint32_t	ps_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* 1 when ps_crc32c() uses the SSE4.2 instruction. */
int		ps_crc32c_hw(void);

#endif
