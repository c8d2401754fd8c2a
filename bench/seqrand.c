/* seqrand.so: LD_PRELOADed into redis-benchmark for the raw-Redis ceiling.
 * redis-benchmark expands each __rand_int__ with random() % keyspacelen and its
 * seed is not settable in Redis 7.0; with this shim random() counts 0, 1, 2...
 * so the acquire run creates locks rb000000000000, rb000000000001, ... (distinct
 * names) and the release run, started the same way, releases exactly those
 * (the bench checks that no lock key is left). Nothing else is changed. */
#include <stdlib.h>

static long next_value;

long random(void)
{
	return next_value++;
}

void srandom(unsigned seed)
{
	(void)seed;
}
