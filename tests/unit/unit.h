/* unit: the tiny assertion helpers shared by the unit-test programs.
 * Header-only. Every failed check prints one line
 *     FAIL file:line: message
 * and unit_done() prints the last line, exactly "N passed, N failed", and
 * returns the process exit status (non-zero if anything failed). */
#ifndef DLOCKD_UNIT_H
#define DLOCKD_UNIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static unsigned unit_passed_, unit_failed_;

static inline bool unit_check_(bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline bool unit_check_(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		unit_passed_++;
		return true;
	}
	unit_failed_++;
	printf("FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return false;
}

/* Renders len bytes of s printably (C escapes, long input elided) into
 * one of 12 rotating static buffers, so up to 12 may appear in one message. */
static inline const char *unit_esc(const char *s, size_t len)
{
	static char bufs[12][200];
	static unsigned next;
	char *b = bufs[next++ % 12];
	size_t o = 0, cap = sizeof bufs[0];

	if (!s) {
		snprintf(b, cap, "(null)");
		return b;
	}
	b[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o + 40 >= cap) {
			snprintf(b + o, cap - o, "...\"(%zu bytes)", len);
			return b;
		}
		if (c == '"' || c == '\\') {
			b[o++] = '\\';
			b[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			b[o++] = (char)c;
		} else {
			o += (size_t)snprintf(b + o, cap - o, "\\x%02x", c);
		}
	}
	b[o++] = '"';
	b[o] = '\0';
	return b;
}

static inline const char *unit_escz(const char *s)
{
	return unit_esc(s, s ? strlen(s) : 0);
}

/* CHECK(cond, fmt, ...): a boolean check with a printf-style message. */
#define CHECK(cond, ...) unit_check_((cond), __FILE__, __LINE__, __VA_ARGS__)

/* Integer equality; `what` names the expression in the failure line. */
#define CHECK_INT(got, want, what)                                                                                     \
	do {                                                                                                           \
		long long unit_g_ = (long long)(got), unit_w_ = (long long)(want);                                     \
		unit_check_(unit_g_ == unit_w_, __FILE__, __LINE__, "%s: expected %lld, got %lld", (what), unit_w_,    \
		            unit_g_);                                                                                  \
	} while (0)

/* String equality (NUL-terminated; NULL compares equal only to NULL). */
#define CHECK_STR(got, want, what)                                                                                     \
	do {                                                                                                           \
		const char *unit_g_ = (got), *unit_w_ = (want);                                                        \
		bool unit_eq_ = (unit_g_ && unit_w_) ? strcmp(unit_g_, unit_w_) == 0 : unit_g_ == unit_w_;             \
		unit_check_(unit_eq_, __FILE__, __LINE__, "%s: expected %s, got %s", (what), unit_escz(unit_w_),       \
		            unit_escz(unit_g_));                                                                       \
	} while (0)

/* Prints the final line and returns the exit status for main(). */
static inline int unit_done(void)
{
	printf("%u passed, %u failed\n", unit_passed_, unit_failed_);
	fflush(stdout);
	return unit_failed_ ? 1 : 0;
}

#endif
