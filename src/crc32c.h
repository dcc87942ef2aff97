/* CRC-32C (Castagnoli), as in iSCSI and ext4; hardware-accelerated on x86-64. */
#ifndef PS_CRC32C_H
#define PS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (start with 0) over len bytes; crc32c("123456789") = 0xe3069283. */
uint32_t	ps_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
