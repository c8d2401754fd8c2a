/* text: percent-decoding. See text.h. */
#include "base/text.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long text_percent_decode(const char *in, size_t len, char *out, size_t cap, bool plus_is_space)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '+' && plus_is_space) {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return -1;
			hi = hex_digit(in[i + 1]);
			lo = hex_digit(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}
