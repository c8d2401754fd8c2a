/* slot: Redis Cluster hash slots. See slot.h. */
#include "redis/slot.h"

#include <string.h>

uint16_t slot_crc16(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint16_t crc = 0;

	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(b[i] << 8);
		for (int k = 0; k < 8; k++)
			crc = crc & 0x8000 ? (uint16_t)(crc << 1 ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned slot_of_key(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len), *close;

	if (open) {
		size_t after = len - (size_t)(open - key) - 1;
		close = memchr(open + 1, '}', after);
		if (close && close > open + 1)
			return slot_crc16(open + 1, (size_t)(close - open - 1)) & (SLOT_COUNT - 1);
	}
	return slot_crc16(key, len) & (SLOT_COUNT - 1);
}
