/* slot: Redis Cluster's hash slots — CRC16/XMODEM and the hash-tag rule that
 * picks which bytes of a key are hashed. dlockd's keys are
 * <prefix><type>:{<name>} (keys.h), so every key of a lock hashes its name
 * alone and all of them share one slot. Pure: no I/O. */
#ifndef DLOCKD_REDIS_SLOT_H
#define DLOCKD_REDIS_SLOT_H

#include <stddef.h>
#include <stdint.h>

enum { SLOT_COUNT = 16384 };

/* CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection, no final
 * XOR) of p[0..len): the checksum Redis Cluster hashes keys with. */
uint16_t slot_crc16(const void *p, size_t len);

/* The hash slot of key[0..len): CRC16 mod 16384 of the bytes between the
 * first '{' and the first '}' after it, if those are not empty; else of the
 * whole key. */
unsigned slot_of_key(const char *key, size_t len);

#endif
