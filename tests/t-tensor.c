/*
 * Tests for tensor.c: dtype tables, shape arithmetic, name validation and
 * the float conversions.  Expected bit patterns are worked out by hand from
 * IEEE 754 binary16/binary32 and bfloat16, not taken from the code.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "tensor.h"
#include "utf8.h"

static uint32_t
f32_bits(float f)
{
	uint32_t	u;

	memcpy(&u, &f, sizeof u);
	return (u);
}

static float
bits_f32(uint32_t u)
{
	float	f;

	memcpy(&f, &u, sizeof f);
	return (f);
}

/* One binary16 pattern (host value) to float32 bits. */
static uint32_t
h2f(uint16_t h)
{
	unsigned char	b[2] = { h & 0xff, h >> 8 };
	float		f;

	ps_f16_to_f32(b, &f, 1);
	return (f32_bits(f));
}

/* float32 bits to one binary16 pattern, read back little-endian. */
static uint16_t
f2h(uint32_t u)
{
	unsigned char	b[2];
	float		f = bits_f32(u);

	ps_f32_to_f16(&f, b, 1);
	return ((uint16_t)(b[0] | b[1] << 8));
}

static uint32_t
b2f(uint16_t h)
{
	unsigned char	b[2] = { h & 0xff, h >> 8 };
	float		f;

	ps_bf16_to_f32(b, &f, 1);
	return (f32_bits(f));
}

static uint16_t
f2b(uint32_t u)
{
	unsigned char	b[2];
	float		f = bits_f32(u);

	ps_f32_to_bf16(&f, b, 1);
	return ((uint16_t)(b[0] | b[1] << 8));
}

static int
is_f32_nan(uint32_t u)
{
	return ((u & 0x7f800000) == 0x7f800000 && (u & 0x7fffff) != 0);
}

static void
test_tables(void)
{
	is_int(ps_dtype_size(PS_DTYPE_F32), 4, "an F32 element is 4 bytes");
	is_int(ps_dtype_size(PS_DTYPE_BF16), 2, "a BF16 element is 2 bytes");
	is_int(ps_dtype_size(PS_DTYPE_F64), 8, "an F64 element is 8 bytes");
	is_int(ps_dtype_size(PS_DTYPE_NONE), 0, "NONE has no element size");
	is_int(ps_dtype_size((enum ps_dtype)9), 0,
	    "an unknown dtype has no element size");
	is_str(ps_dtype_name(PS_DTYPE_F16), "F16",
	    "F16 is spelled as safetensors spells it");
	ok(ps_dtype_name(PS_DTYPE_NONE) == NULL, "NONE has no dtype name");
	is_int(ps_dtype_parse("BF16"), PS_DTYPE_BF16, "\"BF16\" parses");
	is_int(ps_dtype_parse("F64"), PS_DTYPE_F64, "\"F64\" parses");
	is_int(ps_dtype_parse("f32"), PS_DTYPE_NONE,
	    "dtype names are case-sensitive");
	is_int(ps_dtype_parse("I32"), PS_DTYPE_NONE, "\"I32\" is not ours");
	is_str(ps_errcode_name(PS_E_SHAPE), "shape", "error 7 is \"shape\"");
	is_str(ps_errcode_name(8), "nonfinite", "error 8 is \"nonfinite\"");
	is_str(ps_errcode_name(15), "unauthorized",
	    "error 15 is \"unauthorized\"");
	is_str(ps_errcode_name(16), "unknown", "error 16 is unknown");
	is_str(ps_errcode_name(-1), "unknown", "a negative code is unknown");
}

static void
test_shapes(void)
{
	uint64_t	d34[] = { 3, 4 };
	uint64_t	big[] = { 1ull << 32, 1ull << 32 };
	uint64_t	b62[] = { 1ull << 62 };
	uint64_t	zero[] = { 1ull << 61, 1ull << 40, 0 };
	uint64_t	nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	size_t		n = 99;
	char		buf[64];

	ok(ps_shape_count(2, d34, 4, &n) == 0 && n == 12,
	    "[3, 4] has 12 elements");
	ok(ps_shape_count(0, NULL, 4, &n) == 0 && n == 1,
	    "a scalar has one element");
	ok(ps_shape_count(3, zero, 4, &n) == 0 && n == 0,
	    "a zero dimension gives 0 elements even beside huge ones");
	is_int(ps_shape_count(2, big, 1, &n), -1,
	    "2^32 x 2^32 elements overflow");
	is_int(ps_shape_count(1, b62, 4, &n), -1,
	    "2^62 F32 elements overflow in bytes");
	ok(ps_shape_count(1, b62, 0, &n) == 0 && n == (size_t)1 << 62,
	    "2^62 elements of size 0 do not overflow");
	is_int(ps_shape_count(9, nine, 4, &n), -1, "9 dimensions are refused");

	ps_shape_format(2, d34, buf, sizeof buf);
	is_str(buf, "[3, 4]", "[3, 4] formats as written");
	ps_shape_format(0, NULL, buf, sizeof buf);
	is_str(buf, "[]", "a scalar formats as []");
	ps_shape_format(2, d34, buf, 4);
	is_str(buf, "[3,", "shape_format truncates to its buffer");
}

static void
test_names(void)
{
	char	long_name[300];

	memset(long_name, 'a', sizeof long_name);
	ok(ps_name_valid("dense/kernel", 12), "an ASCII name is valid");
	ok(!ps_name_valid("", 0), "an empty name is refused");
	ok(ps_name_valid(long_name, 255), "a 255-byte name is valid");
	ok(!ps_name_valid(long_name, 256), "a 256-byte name is refused");
	ok(!ps_name_valid("a\0b", 3), "a name with NUL is refused");
	ok(ps_name_valid("gr\xc3\xb6\xc3\x9f" "e", 7),
	    "a two-byte UTF-8 sequence is valid");
	ok(ps_name_valid("\xf0\x9f\x98\x80", 4),
	    "a four-byte UTF-8 sequence is valid");
	ok(ps_name_valid("\xf4\x8f\xbf\xbf", 4), "U+10FFFF is valid");
	ok(!ps_name_valid("\xf4\x90\x80\x80", 4),
	    "a code point above U+10FFFF is refused");
	ok(!ps_name_valid("\xc0\xaf", 2), "an overlong two-byte '/' is refused");
	ok(!ps_name_valid("\xe0\x80\xaf", 3),
	    "an overlong three-byte '/' is refused");
	ok(!ps_name_valid("\xed\xa0\x80", 3), "a UTF-16 surrogate is refused");
	ok(!ps_name_valid("a\xc3", 2), "a truncated sequence is refused");
	ok(!ps_name_valid("\x80", 1), "a lone continuation byte is refused");
	ok(!ps_name_valid("\xf8\x88\x80\x80\x80", 5),
	    "a five-byte lead byte is refused");
	ok(!ps_name_valid("\xc3(", 2),
	    "a lead byte followed by ASCII is refused");
	ok(ps_utf8_valid("", 0), "empty text is valid UTF-8");
}

static void
test_f16(void)
{
	unsigned char	 raw[8] = { 0xee, 0x00, 0x3c, 0x00, 0xc0 };
	float		 out[2];
	unsigned char	 enc[2];
	uint32_t	 u, bad = 0;
	uint16_t	 h;

	/* binary16 to float32 */
	is_int(h2f(0x3c00), 0x3f800000, "f16 0x3c00 is 1.0");
	is_int(h2f(0xc000), 0xc0000000, "f16 0xc000 is -2.0");
	is_int(h2f(0x7bff), 0x477fe000, "f16 0x7bff is 65504");
	is_int(h2f(0x0001), 0x33800000, "f16 0x0001 is 2^-24");
	is_int(h2f(0x03ff), 0x387fc000, "f16 0x03ff is 1023 * 2^-24");
	is_int(h2f(0x0400), 0x38800000, "f16 0x0400 is 2^-14");
	is_int(h2f(0x3555), 0x3eaaa000, "f16 0x3555 is 0.333251953125");
	is_int(h2f(0x8000), 0x80000000, "f16 0x8000 is -0.0");
	is_int(h2f(0x7c00), 0x7f800000, "f16 0x7c00 is +inf");
	is_int(h2f(0xfc00), 0xff800000, "f16 0xfc00 is -inf");
	is_int(h2f(0x7e00), 0x7fc00000, "f16 0x7e00 is the quiet NaN");
	is_int(h2f(0x7d00), 0x7fe00000,
	    "f16 signalling NaN 0x7d00 comes out quiet with its payload");

	/* float32 to binary16 */
	is_int(f2h(0x3f800000), 0x3c00, "1.0 is f16 0x3c00");
	is_int(f2h(0x477fe000), 0x7bff, "65504 is f16 0x7bff");
	is_int(f2h(0x477fefff), 0x7bff, "just under 65520 rounds to 65504");
	is_int(f2h(0x477ff000), 0x7c00, "65520 ties to even: +inf");
	is_int(f2h(0x49742400), 0x7c00, "1e6 overflows to +inf");
	is_int(f2h(0x33800000), 0x0001, "2^-24 is the smallest subnormal");
	is_int(f2h(0x33000000), 0x0000, "2^-25 ties to even: zero");
	is_int(f2h(0x33000001), 0x0001, "just over 2^-25 rounds up");
	is_int(f2h(0x33c00000), 0x0002, "1.5 * 2^-24 ties to even: 2 units");
	is_int(f2h(0x387fe000), 0x0400,
	    "halfway under 2^-14 ties to the even 0x0400");
	is_int(f2h(0x3f801000), 0x3c00, "1 + 2^-11 ties down to 1.0");
	is_int(f2h(0x3f803000), 0x3c02, "1 + 3 * 2^-11 ties up to even");
	is_int(f2h(0x3f801008), 0x3c01, "just over a tie rounds up");
	is_int(f2h(0x80000000), 0x8000, "-0.0 keeps its sign");
	is_int(f2h(0xff800000), 0xfc00, "-inf is f16 0xfc00");
	h = f2h(0x7f800001);
	ok((h & 0x7e00) == 0x7e00, "a signalling f32 NaN becomes a quiet "
	    "f16 NaN, not inf (got 0x%04x)", h);
	is_int(f2h(0xffc00000), 0xfe00, "-NaN keeps its sign");

	/* every binary16 value survives the round trip */
	for (u = 0; u < 0x10000; u++) {
		float f;

		enc[0] = u & 0xff;
		enc[1] = u >> 8;
		ps_f16_to_f32(enc, &f, 1);
		ps_f32_to_f16(&f, enc, 1);
		h = (uint16_t)(enc[0] | enc[1] << 8);
		if ((u & 0x7c00) == 0x7c00 && (u & 0x3ff) != 0) {
			if ((h & 0x7e00) != 0x7e00 || (h & 0x8000) !=
			    (u & 0x8000))
				bad++;
		} else if (h != u)
			bad++;
	}
	is_int(bad, 0, "all 65536 f16 patterns round-trip through f32");

	/* unaligned, little-endian input */
	ps_f16_to_f32(raw + 1, out, 2);
	ok(out[0] == 1.0f && out[1] == -2.0f,
	    "f16 input at an odd address reads little-endian");
	ps_f32_to_f16(out, raw + 3, 1);
	ok(raw[3] == 0x00 && raw[4] == 0x3c,
	    "f16 output is written little-endian at an odd address");
}

static void
test_bf16(void)
{
	uint32_t	bad = 0, u, back;

	is_int(b2f(0x3f80), 0x3f800000, "bf16 0x3f80 is 1.0");
	is_int(b2f(0xc040), 0xc0400000, "bf16 0xc040 is -3.0");
	is_int(b2f(0xff80), 0xff800000, "bf16 0xff80 is -inf");
	is_int(b2f(0x7f81), 0x7fc10000,
	    "bf16 signalling NaN 0x7f81 comes out quiet");
	is_int(f2b(0x3f800000), 0x3f80, "1.0 is bf16 0x3f80");
	is_int(f2b(0x40490fdb), 0x4049, "pi rounds down to bf16 0x4049");
	is_int(f2b(0x3f808000), 0x3f80, "a tie below an even bf16 rounds down");
	is_int(f2b(0x3f818000), 0x3f82, "a tie below an odd bf16 rounds up");
	is_int(f2b(0x3f808001), 0x3f81, "just over a tie rounds up");
	is_int(f2b(0x7f7fffff), 0x7f80, "FLT_MAX rounds to bf16 +inf");
	is_int(f2b(0x7f800001), 0x7fc0, "a signalling NaN becomes quiet, not inf");
	is_int(f2b(0x80000001), 0x8000, "the smallest -subnormal rounds to -0");
	for (u = 0; u < 0x10000; u++) {
		if ((u & 0x7f80) == 0x7f80 && (u & 0x7f) != 0)
			continue;
		back = f2b(b2f((uint16_t)u));
		if (back != u)
			bad++;
	}
	is_int(bad, 0, "every non-NaN bf16 pattern round-trips");
}

static void
test_f64(void)
{
	/* 1.5, DBL_MAX, -DBL_MAX, 0.1, NaN; then 1.5 again at offset 1. */
	static const unsigned char	in[] = {
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0x7f,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xff,
		0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f,
		0x55,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f
	};
	float				out[6];

	ps_f64_to_f32(in, out, 5);
	ps_f64_to_f32(in + 41, out + 5, 1);
	is_int(f32_bits(out[0]), 0x3fc00000, "f64 1.5 is f32 1.5");
	is_int(f32_bits(out[1]), 0x7f800000, "f64 DBL_MAX saturates to +inf");
	is_int(f32_bits(out[2]), 0xff800000, "f64 -DBL_MAX saturates to -inf");
	is_int(f32_bits(out[3]), 0x3dcccccd, "f64 0.1 rounds to f32 0x3dcccccd");
	ok(is_f32_nan(f32_bits(out[4])), "f64 NaN is a NaN");
	is_int(f32_bits(out[5]), 0x3fc00000, "f64 input at an odd address reads");
}

int
main(void)
{
	plan(94);
	test_tables();
	test_shapes();
	test_names();
	test_f16();
	test_bf16();
	test_f64();
	return (exit_status());
}
