/*
 * Tensor helpers shared by every layer: dtype tables, shape arithmetic,
 * name validation and the float conversions used for wire compression and
 * checkpoint loading.  Part of libpsctl: no allocation, no logging, no
 * global state, so every function is safe to call from any thread.
 */

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tensor.h"
#include "utf8.h"

static uint16_t	tensor_load16(const unsigned char *);
static void	tensor_store16(unsigned char *, uint16_t);
static uint32_t	tensor_f32_bits(float);
static float	tensor_bits_f32(uint32_t);
static uint16_t	tensor_f32_to_f16(uint32_t);
static uint32_t	tensor_f16_to_f32(uint16_t);
static uint16_t	tensor_f32_to_bf16(uint32_t);

static const char *tensor_errcode_names[] = {
	"ok",			/* PS_E_OK */
	"malformed",		/* PS_E_MALFORMED */
	"unknown_op",		/* PS_E_UNKNOWN_OP */
	"too_large",		/* PS_E_TOO_LARGE */
	"no_model",		/* PS_E_NO_MODEL */
	"mismatch",		/* PS_E_MISMATCH */
	"unknown_tensor",	/* PS_E_UNKNOWN_TENSOR */
	"shape",		/* PS_E_SHAPE */
	"nonfinite",		/* PS_E_NONFINITE */
	"dtype",		/* PS_E_DTYPE */
	"protocol",		/* PS_E_PROTOCOL */
	"shutdown",		/* PS_E_SHUTDOWN */
	"internal",		/* PS_E_INTERNAL */
	"duplicate",		/* PS_E_DUPLICATE */
	"busy",			/* PS_E_BUSY */
	"unauthorized"		/* PS_E_UNAUTHORIZED */
};

size_t
ps_dtype_size(enum ps_dtype dt)
{
	switch (dt) {
	case PS_DTYPE_F32:
		return (4);
	case PS_DTYPE_F16:
	case PS_DTYPE_BF16:
		return (2);
	case PS_DTYPE_F64:
		return (8);
	case PS_DTYPE_NONE:
		break;
	}
	return (0);
}

const char *
ps_dtype_name(enum ps_dtype dt)
{
	switch (dt) {
	case PS_DTYPE_F32:
		return ("F32");
	case PS_DTYPE_F16:
		return ("F16");
	case PS_DTYPE_BF16:
		return ("BF16");
	case PS_DTYPE_F64:
		return ("F64");
	case PS_DTYPE_NONE:
		break;
	}
	return (NULL);
}

enum ps_dtype
ps_dtype_parse(const char *s)
{
	if (s == NULL)
		return (PS_DTYPE_NONE);
	if (strcmp(s, "F32") == 0)
		return (PS_DTYPE_F32);
	if (strcmp(s, "F16") == 0)
		return (PS_DTYPE_F16);
	if (strcmp(s, "BF16") == 0)
		return (PS_DTYPE_BF16);
	if (strcmp(s, "F64") == 0)
		return (PS_DTYPE_F64);
	return (PS_DTYPE_NONE);
}

const char *
ps_errcode_name(int code)
{
	size_t	n = sizeof tensor_errcode_names / sizeof tensor_errcode_names[0];

	if (code < 0 || (size_t)code >= n)
		return ("unknown");
	return (tensor_errcode_names[code]);
}

int
ps_shape_count(unsigned ndim, const uint64_t *dims, size_t elsize,
    size_t *n)
{
	size_t		count = 1;
	unsigned	i;

	if (ndim > PS_DIMS_MAX)
		return (-1);
	for (i = 0; i < ndim; i++) {
		if (dims[i] == 0) {
			*n = 0;
			return (0);
		}
	}
	for (i = 0; i < ndim; i++) {
		if (dims[i] > SIZE_MAX || count > SIZE_MAX / dims[i])
			return (-1);
		count *= (size_t)dims[i];
	}
	if (elsize != 0 && count > SIZE_MAX / elsize)
		return (-1);
	*n = count;
	return (0);
}

void
ps_shape_format(unsigned ndim, const uint64_t *dims, char *buf, size_t len)
{
	size_t		off = 0;
	unsigned	i;
	int		r;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (ndim > PS_DIMS_MAX)
		ndim = PS_DIMS_MAX;
	r = snprintf(buf, len, "[");
	for (i = 0; r >= 0 && i < ndim; i++) {
		off += (size_t)r;
		if (off >= len)
			return;
		r = snprintf(buf + off, len - off, "%s%llu", i == 0 ? "" : ", ",
		    (unsigned long long)dims[i]);
	}
	if (r < 0)
		return;
	off += (size_t)r;
	if (off >= len)
		return;
	snprintf(buf + off, len - off, "]");
}

int
ps_name_valid(const char *name, size_t len)
{
	if (len < 1 || len > PS_NAME_MAX || memchr(name, '\0', len) != NULL)
		return (0);
	return (ps_utf8_valid(name, len));
}

static uint16_t
tensor_load16(const unsigned char *p)
{
	return ((uint16_t)(p[0] | (p[1] << 8)));
}

static void
tensor_store16(unsigned char *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static uint32_t
tensor_f32_bits(float f)
{
	uint32_t	u;

	memcpy(&u, &f, sizeof u);
	return (u);
}

static float
tensor_bits_f32(uint32_t u)
{
	float	f;

	memcpy(&f, &u, sizeof f);
	return (f);
}

/* Binary16 to binary32 bits: exact; NaNs come out quiet, payload kept. */
static uint32_t
tensor_f16_to_f32(uint16_t h)
{
	uint32_t	sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t	e = (h >> 10) & 0x1f, m = h & 0x3ff;
	int		exp;

	if (e == 0x1f) {
		if (m == 0)
			return (sign | 0x7f800000);
		return (sign | 0x7fc00000 | (m << 13));
	}
	if (e != 0)
		return (sign | ((e + 112) << 23) | (m << 13));
	if (m == 0)
		return (sign);
	/* Subnormal: m * 2^-24; normalise so the leading one is bit 10. */
	exp = 1;
	while ((m & 0x400) == 0) {
		m <<= 1;
		exp--;
	}
	return (sign | ((uint32_t)(exp + 112) << 23) | ((m & 0x3ff) << 13));
}

/* Binary32 to binary16 bits, rounding to nearest even; NaNs stay quiet NaNs. */
static uint16_t
tensor_f32_to_f16(uint32_t x)
{
	uint16_t	sign = (x >> 16) & 0x8000;
	uint32_t	e, m, r, rem, half;
	unsigned	shift;

	x &= 0x7fffffff;
	if (x > 0x7f800000)
		return (sign | 0x7e00 | ((x & 0x7fffff) >> 13));
	if (x >= 0x477ff000)	/* >= 65520 rounds to infinity */
		return (sign | 0x7c00);
	e = x >> 23;
	m = x & 0x7fffff;
	if (x >= 0x38800000) {	/* >= 2^-14: normal */
		r = ((e - 112) << 10) | (m >> 13);
		rem = m & 0x1fff;
		if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
			r++;
		return (sign | (uint16_t)r);
	}
	if (x <= 0x33000000)	/* <= 2^-25 rounds to zero */
		return (sign);
	/* Subnormal result: (m | 2^23) * 2^(e - 150) in units of 2^-24. */
	m |= 0x800000;
	shift = 126 - e;
	r = m >> shift;
	rem = m & ((1u << shift) - 1);
	half = 1u << (shift - 1);
	if (rem > half || (rem == half && (r & 1)))
		r++;
	return (sign | (uint16_t)r);
}

/* Binary32 to bfloat16 bits, rounding to nearest even; NaNs stay quiet. */
static uint16_t
tensor_f32_to_bf16(uint32_t x)
{
	if ((x & 0x7fffffff) > 0x7f800000)
		return ((uint16_t)((x >> 16) | 0x0040));
	x += 0x7fff + ((x >> 16) & 1);
	return ((uint16_t)(x >> 16));
}

void
ps_f16_to_f32(const void *src, float *dst, size_t n)
{
	const unsigned char	*p = src;
	size_t			 i;

	for (i = 0; i < n; i++)
		dst[i] = tensor_bits_f32(tensor_f16_to_f32(
		    tensor_load16(p + 2 * i)));
}

void
ps_bf16_to_f32(const void *src, float *dst, size_t n)
{
	const unsigned char	*p = src;
	uint32_t		 u;
	size_t			 i;

	for (i = 0; i < n; i++) {
		u = (uint32_t)tensor_load16(p + 2 * i) << 16;
		if ((u & 0x7fffffff) > 0x7f800000)
			u |= 0x00400000;
		dst[i] = tensor_bits_f32(u);
	}
}

void
ps_f64_to_f32(const void *src, float *dst, size_t n)
{
	const unsigned char	*p = src;
	unsigned char		 b[8];
	uint64_t		 u;
	double			 d;
	size_t			 i;
	int			 k;

	for (i = 0; i < n; i++) {
		/* Little-endian regardless of the host. */
		memcpy(b, p + 8 * i, 8);
		u = 0;
		for (k = 7; k >= 0; k--)
			u = (u << 8) | b[k];
		memcpy(&d, &u, sizeof d);
		/*
		 * Out-of-range conversion is undefined in C, so saturate by
		 * hand: the halfway point between FLT_MAX and 2^128 and above
		 * rounds (to even) to infinity.
		 */
		if (d != d)
			dst[i] = tensor_bits_f32(0x7fc00000 |
			    (uint32_t)((u >> 63) << 31));
		else if (d >= 0x1.ffffffp+127)
			dst[i] = tensor_bits_f32(0x7f800000);
		else if (d <= -0x1.ffffffp+127)
			dst[i] = tensor_bits_f32(0xff800000);
		else
			dst[i] = (float)d;
	}
}

void
ps_f32_to_f16(const float *src, void *dst, size_t n)
{
	unsigned char	*p = dst;
	size_t		 i;

	for (i = 0; i < n; i++)
		tensor_store16(p + 2 * i,
		    tensor_f32_to_f16(tensor_f32_bits(src[i])));
}

void
ps_f32_to_bf16(const float *src, void *dst, size_t n)
{
	unsigned char	*p = dst;
	size_t		 i;

	for (i = 0; i < n; i++)
		tensor_store16(p + 2 * i,
		    tensor_f32_to_bf16(tensor_f32_bits(src[i])));
}
