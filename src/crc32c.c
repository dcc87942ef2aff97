/*
 * CRC-32C.  The software path is slicing by 8 (eight 256-entry tables, one
 * 64-bit word per step).  The hardware path feeds three independent streams
 * of the crc32 instruction (its latency is three cycles, its throughput one
 * per cycle), then joins them with "append n zero bytes" operators that are
 * precomputed as tables: crc(A || B) = zeros_|B|(crc(A)) ^ crc0(B), where
 * crc0 starts from a zero register.  This is the method of Mark Adler's
 * crc32c.c, written afresh.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"

#define CRC32C_POLY	0x82f63b78U	/* reflected Castagnoli polynomial */
#define CRC32C_LONG	8192		/* bytes per stream, large blocks */
#define CRC32C_SHORT	256		/* bytes per stream, small blocks */

#if defined(__x86_64__) && defined(__GNUC__)
#define CRC32C_X86 1
#endif

static void	crc32c_init(void);
#ifdef CRC32C_X86
static uint32_t	crc32c_gf2_times(const uint32_t *, uint32_t);
static void	crc32c_zeros_op(uint32_t *, size_t);
static void	crc32c_zeros_table(uint32_t [4][256], size_t);
static uint32_t	crc32c_hw_run(uint32_t, const unsigned char *, size_t);
#endif

static pthread_once_t	crc32c_once = PTHREAD_ONCE_INIT;
static uint32_t		crc32c_table[8][256];
static int		crc32c_have_hw;
#ifdef CRC32C_X86
static uint32_t		crc32c_long[4][256];
static uint32_t		crc32c_short[4][256];
#endif

#ifdef CRC32C_X86
/* Multiplies the 32x32 GF(2) matrix mat (columns) by vec. */
static uint32_t
crc32c_gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t	sum = 0;

	while (vec != 0) {
		if (vec & 1)
			sum ^= *mat;
		vec >>= 1;
		mat++;
	}
	return sum;
}

/* Fills op with the operator that appends len zero bytes to a raw CRC. */
static void
crc32c_zeros_op(uint32_t *op, size_t len)
{
	uint32_t	base[32], tmp[32];
	unsigned	i, k;

	/* One zero bit: shift right, fold the polynomial in on a carry. */
	base[0] = CRC32C_POLY;
	for (i = 1; i < 32; i++)
		base[i] = 1U << (i - 1);
	/* Square three times: one zero byte. */
	for (k = 0; k < 3; k++) {
		for (i = 0; i < 32; i++)
			tmp[i] = crc32c_gf2_times(base, base[i]);
		memcpy(base, tmp, sizeof base);
	}
	for (i = 0; i < 32; i++)
		op[i] = 1U << i;
	while (len != 0) {
		if (len & 1) {
			for (i = 0; i < 32; i++)
				tmp[i] = crc32c_gf2_times(base, op[i]);
			memcpy(op, tmp, sizeof tmp);
		}
		len >>= 1;
		if (len == 0)
			break;
		for (i = 0; i < 32; i++)
			tmp[i] = crc32c_gf2_times(base, base[i]);
		memcpy(base, tmp, sizeof base);
	}
}

/* Tables applying the len-zero-bytes operator one byte of the CRC at a time. */
static void
crc32c_zeros_table(uint32_t zeros[4][256], size_t len)
{
	uint32_t	op[32];
	unsigned	n, k;

	crc32c_zeros_op(op, len);
	for (n = 0; n < 256; n++) {
		for (k = 0; k < 4; k++)
			zeros[k][n] = crc32c_gf2_times(op, (uint32_t)n << (8 * k));
	}
}
#endif

static void
crc32c_init(void)
{
	uint32_t	crc;
	unsigned	n, k;

	for (n = 0; n < 256; n++) {
		crc = n;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ ((crc & 1) ? CRC32C_POLY : 0);
		crc32c_table[0][n] = crc;
	}
	for (n = 0; n < 256; n++) {
		crc = crc32c_table[0][n];
		for (k = 1; k < 8; k++) {
			crc = (crc >> 8) ^ crc32c_table[0][crc & 0xff];
			crc32c_table[k][n] = crc;
		}
	}
#ifdef CRC32C_X86
	crc32c_zeros_table(crc32c_long, CRC32C_LONG);
	crc32c_zeros_table(crc32c_short, CRC32C_SHORT);
	__builtin_cpu_init();
	crc32c_have_hw = __builtin_cpu_supports("sse4.2") != 0;
#endif
}

uint32_t
ps_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	uint64_t		 w;

	pthread_once(&crc32c_once, crc32c_init);
	crc = ~crc;
	while (len != 0 && ((uintptr_t)p & 7) != 0) {
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		/* Little-endian whatever the host; one load on x86. */
		w = (uint64_t)p[0] | (uint64_t)p[1] << 8 |
		    (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
		    (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
		    (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
		w ^= crc;
		crc = crc32c_table[7][w & 0xff] ^
		    crc32c_table[6][(w >> 8) & 0xff] ^
		    crc32c_table[5][(w >> 16) & 0xff] ^
		    crc32c_table[4][(w >> 24) & 0xff] ^
		    crc32c_table[3][(w >> 32) & 0xff] ^
		    crc32c_table[2][(w >> 40) & 0xff] ^
		    crc32c_table[1][(w >> 48) & 0xff] ^
		    crc32c_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len-- != 0)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#ifdef CRC32C_X86
static inline uint32_t
crc32c_shift(uint32_t zeros[4][256], uint32_t crc)
{
	return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^
	    zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

static inline uint64_t
crc32c_load64(const unsigned char *p)
{
	uint64_t	w;

	memcpy(&w, p, sizeof w);	/* x86 is little-endian */
	return w;
}

/* Runs on raw (non-inverted) CRCs; the caller inverts. */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw_run(uint32_t crc, const unsigned char *p, size_t len)
{
	const unsigned char	*end;
	uint64_t		 c0 = crc, c1, c2;

	while (len != 0 && ((uintptr_t)p & 7) != 0) {
		c0 = __builtin_ia32_crc32qi((uint32_t)c0, *p++);
		len--;
	}
	while (len >= 3 * CRC32C_LONG) {
		c1 = c2 = 0;
		end = p + CRC32C_LONG;
		do {
			c0 = __builtin_ia32_crc32di(c0, crc32c_load64(p));
			c1 = __builtin_ia32_crc32di(c1,
			    crc32c_load64(p + CRC32C_LONG));
			c2 = __builtin_ia32_crc32di(c2,
			    crc32c_load64(p + 2 * CRC32C_LONG));
			p += 8;
		} while (p < end);
		c0 = crc32c_shift(crc32c_long, (uint32_t)c0) ^ (uint32_t)c1;
		c0 = crc32c_shift(crc32c_long, (uint32_t)c0) ^ (uint32_t)c2;
		p += 2 * CRC32C_LONG;
		len -= 3 * CRC32C_LONG;
	}
	while (len >= 3 * CRC32C_SHORT) {
		c1 = c2 = 0;
		end = p + CRC32C_SHORT;
		do {
			c0 = __builtin_ia32_crc32di(c0, crc32c_load64(p));
			c1 = __builtin_ia32_crc32di(c1,
			    crc32c_load64(p + CRC32C_SHORT));
			c2 = __builtin_ia32_crc32di(c2,
			    crc32c_load64(p + 2 * CRC32C_SHORT));
			p += 8;
		} while (p < end);
		c0 = crc32c_shift(crc32c_short, (uint32_t)c0) ^ (uint32_t)c1;
		c0 = crc32c_shift(crc32c_short, (uint32_t)c0) ^ (uint32_t)c2;
		p += 2 * CRC32C_SHORT;
		len -= 3 * CRC32C_SHORT;
	}
	while (len >= 8) {
		c0 = __builtin_ia32_crc32di(c0, crc32c_load64(p));
		p += 8;
		len -= 8;
	}
	while (len-- != 0)
		c0 = __builtin_ia32_crc32qi((uint32_t)c0, *p++);
	return (uint32_t)c0;
}
#endif

uint32_t
ps_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
#ifdef CRC32C_X86
	if (crc32c_have_hw)
		return ~crc32c_hw_run(~crc, buf, len);
#endif
	return ps_crc32c_sw(crc, buf, len);
}

int
ps_crc32c_hw(void)
{
	pthread_once(&crc32c_once, crc32c_init);
	return crc32c_have_hw;
}
