/* dump_scripts: writes dlockd's Lua scripts (src/redis/scripts.h, the exact
 * bytes dlockd sends to SCRIPT LOAD) to DIR/acquire.lua, DIR/release.lua and
 * DIR/renew.lua, so the raw-Redis ceiling runs the same scripts via EVALSHA.
 * Built by bench/run.sh with -Isrc. */
#include <stdio.h>
#include <string.h>

#include "redis/scripts.h"

static int dump(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return -1;
	f = fopen(path, "wb");
	if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dump_scripts DIR\n");
		return 2;
	}
	if (dump(argv[1], "acquire.lua", SCRIPT_ACQUIRE) < 0 || dump(argv[1], "release.lua", SCRIPT_RELEASE) < 0 ||
	    dump(argv[1], "renew.lua", SCRIPT_RENEW) < 0)
		return 1;
	return 0;
}
