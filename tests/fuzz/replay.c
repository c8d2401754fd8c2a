/* replay: runs one fuzz target's LLVMFuzzerTestOneInput() over files, without
 * libFuzzer, so `make test` and `make check` (gcc, with or without
 * sanitizers) replay every seed and every input that ever found a bug.
 *
 *     replay_NAME [FILE|DIR]...
 *
 * With no arguments it reads FUZZ_ROOT/corpus/NAME and FUZZ_ROOT/regress/NAME
 * (FUZZ_ROOT is baked in at build time; NAME comes from the program's own
 * name). Each file runs in a child process, so an input that aborts fails
 * alone; the last line is "N passed, N failed". */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FUZZ_ROOT
#define FUZZ_ROOT "tests/fuzz"
#endif

static unsigned passed, failed;

/* Reads path into a malloc'd buffer (*len bytes; NULL when it cannot). */
static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		uint8_t *bigger;
		size_t got;
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			bigger = realloc(buf, cap);
			if (!bigger) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = bigger;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Runs the target over one file in a child; counts the outcome. */
static void replay_file(const char *path)
{
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		printf("FAIL %s: fork: %s\n", path, strerror(errno));
		failed++;
		return;
	}
	if (pid == 0) {
		size_t len = 0;
		uint8_t *data = read_file(path, &len);
		if (!data)
			_exit(3);
		LLVMFuzzerTestOneInput(data, len);
		free(data);
		exit(0); /* exit(), not _exit(): LeakSanitizer runs at exit */
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		passed++;
		return;
	}
	failed++;
	if (WIFSIGNALED(status))
		printf("FAIL %s: signal %d\n", path, WTERMSIG(status));
	else
		printf("FAIL %s: exit %d\n", path, WEXITSTATUS(status));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file in dir, in name order. */
static void replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (!d) {
		printf("FAIL %s: %s\n", dir, strerror(errno));
		failed++;
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **bigger = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
			if (!bigger)
				abort();
			names = bigger;
		}
		names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
		if (!names[n])
			abort();
		snprintf(names[n], strlen(dir) + strlen(e->d_name) + 2, "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			replay_file(names[i]);
		free(names[i]);
	}
	free(names);
}

/* Replays a file, or every file in a directory; missing_ok: a path that does
 * not exist is no error. */
static void replay_path(const char *path, bool missing_ok)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		if (!(missing_ok && errno == ENOENT)) {
			printf("FAIL %s: %s\n", path, strerror(errno));
			failed++;
		}
		return;
	}
	if (S_ISDIR(st.st_mode))
		replay_dir(path);
	else
		replay_file(path);
}

int main(int argc, char **argv)
{
	const char *slash = strrchr(argv[0], '/'), *name = slash ? slash + 1 : argv[0];
	char dir[4096];

	if (strncmp(name, "replay_", 7) == 0)
		name += 7;
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			replay_path(argv[i], false);
	} else {
		snprintf(dir, sizeof dir, "%s/corpus/%s", FUZZ_ROOT, name);
		replay_path(dir, false);
		snprintf(dir, sizeof dir, "%s/regress/%s", FUZZ_ROOT, name);
		replay_path(dir, true);
	}
	if (passed + failed == 0) {
		printf("FAIL %s: no inputs to replay\n", name);
		failed++;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
