/* fuzz: what the libFuzzer targets in tests/fuzz/ share. Each fuzz_NAME.c
 * defines LLVMFuzzerTestOneInput(); built with clang -fsanitize=fuzzer it is
 * a fuzzer (make fuzz), built with replay.c it replays the seed corpus and
 * the regression inputs (make test). A property that does not hold aborts
 * with one line naming it, so the fuzzer keeps the input as a crash.
 * Header-only. */
#ifndef DLOCKD_FUZZ_H
#define DLOCKD_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_fail_(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static inline void fuzz_fail_(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "PROPERTY FAILED %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* FUZZ_CHECK(cond, fmt, ...): aborts with the message unless cond holds. */
#define FUZZ_CHECK(cond, ...)                                                                                          \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			fuzz_fail_(__FILE__, __LINE__, __VA_ARGS__);                                                   \
	} while (0)

/* The unread rest of an input. */
struct fuzz_in {
	const uint8_t *p;
	size_t len;
};

/* Takes the bytes up to the next sep (or the end) from in into *s, *n; the
 * separator is consumed. Returns false when in was already empty. */
static inline bool fuzz_field(struct fuzz_in *in, uint8_t sep, const char **s, size_t *n)
{
	const uint8_t *end;

	if (in->len == 0)
		return false;
	end = memchr(in->p, sep, in->len);
	*s = (const char *)in->p;
	*n = end ? (size_t)(end - in->p) : in->len;
	in->p += *n + (end ? 1 : 0);
	in->len -= *n + (end ? 1 : 0);
	return true;
}

/* Takes one byte (0 when in is empty). */
static inline uint8_t fuzz_byte(struct fuzz_in *in)
{
	uint8_t b;

	if (in->len == 0)
		return 0;
	b = in->p[0];
	in->p++;
	in->len--;
	return b;
}

/* A NUL-terminated copy of s[0..n) (malloc'd; aborts when out of memory). */
static inline char *fuzz_strndup(const char *s, size_t n)
{
	char *c = malloc(n + 1);

	if (!c)
		abort();
	if (n)
		memcpy(c, s, n);
	c[n] = '\0';
	return c;
}

/* True if s[0..n) is 1 or more ASCII digits. */
static inline bool fuzz_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* True if every byte of the NUL-terminated s is printable ASCII. */
static inline bool fuzz_printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

#endif
