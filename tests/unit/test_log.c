/* Unit tests for log.c's batching and line times: a batching thread's lines
 * reach stderr only at log_flush() (or when 64 KiB wait), whole and in order;
 * other threads' lines at once; every line starts with the time it was made,
 * to the millisecond. stderr is redirected to a temporary file. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/text.h"
#include "unit.h"

static int capture; /* the temporary file stderr goes to, opened again for reading */
static int saved_stderr;

/* What has reached stderr since the last call (malloc'd). */
static char *written(void)
{
	static off_t seen;
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	ssize_t n;

	fflush(stderr);
	while ((n = pread(capture, out + len, cap - len - 1, seen + (off_t)len)) > 0) {
		len += (size_t)n;
		if (cap - len < 2)
			out = realloc(out, cap *= 2);
	}
	out[len] = '\0';
	seen += (off_t)len;
	return out;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int64_t now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void test_unbatched_lines_at_once(void)
{
	log_msg(LOG_INFO, "first %d", 1);
	char *w = written();
	CHECK(strstr(w, "first 1\n") != NULL, "an unbatched line was not written at once: '%s'", w);
	free(w);
}

static void test_batched_lines_wait_for_flush(void)
{
	log_batch_begin();
	log_msg(LOG_INFO, "one");
	log_access("10.0.0.1", "PUT", "/locks/a", 201, 1500, "r-1");
	log_msg(LOG_WARN, "two");
	char *w = written();
	CHECK(w[0] == '\0', "batched lines were written before the flush: '%s'", w);
	free(w);
	log_flush();
	w = written();
	const char *a = strstr(w, "one\n"), *b = strstr(w, "/locks/a 201"), *c = strstr(w, "two\n");
	CHECK(a && b && c && a < b && b < c, "the flush did not write the three lines in order: '%s'", w);
	CHECK(count_lines(w) == 3, "%u lines after the flush, want 3", count_lines(w));
	free(w);
	/* an error line goes at once, after the lines kept before it */
	log_msg(LOG_INFO, "three");
	log_msg(LOG_ERROR, "fatal");
	w = written();
	a = strstr(w, "three\n");
	b = strstr(w, "fatal\n");
	CHECK(a && b && a < b, "an error line was not written at once after the kept lines: '%s'", w);
	free(w);
	log_flush(); /* nothing left: writes nothing */
	w = written();
	CHECK(w[0] == '\0', "a second flush wrote '%s'", w);
	free(w);
	log_batch_end();
	log_msg(LOG_INFO, "after the end");
	w = written();
	CHECK(strstr(w, "after the end\n") != NULL, "after log_batch_end a line waited: '%s'", w);
	free(w);
}

static void test_full_batch_written_whole(void)
{
	char text[901];
	memset(text, 'x', sizeof text - 1);
	text[sizeof text - 1] = '\0';
	log_batch_begin();
	/* 200 lines of ~930 bytes: more than 64 KiB, so some go before the flush */
	for (int i = 0; i < 200; i++)
		log_msg(LOG_INFO, "line %03d %s", i, text);
	char *w = written();
	unsigned early = count_lines(w);
	CHECK(early > 0 && early < 200, "%u of 200 lines written before the flush (want some, not all)", early);
	size_t len = strlen(w);
	CHECK(len > 0 && w[len - 1] == '\n', "a line was cut at the automatic write");
	free(w);
	log_batch_end();
	w = written();
	CHECK(early + count_lines(w) == 200, "%u + %u lines written, want 200", early, count_lines(w));
	char want[16];
	snprintf(want, sizeof want, "line %03u ", early);
	CHECK(strstr(w, want) != NULL, "the lines after the automatic write do not start at %u", early);
	free(w);
}

static void test_line_time(void)
{
	/* lines across several milliseconds and a second boundary keep the right time */
	for (int i = 0; i < 40; i++) {
		int64_t before = now_ms();
		log_msg(LOG_INFO, "t");
		int64_t after = now_ms();
		char *w = written(), lo[TEXT_TIME_LEN + 1], hi[TEXT_TIME_LEN + 1];
		text_format_time(before, lo);
		text_format_time(after, hi);
		bool ok =
		    strlen(w) > TEXT_TIME_LEN && memcmp(w, lo, TEXT_TIME_LEN) >= 0 && memcmp(w, hi, TEXT_TIME_LEN) <= 0;
		CHECK(ok, "line time '%.24s' not within [%s, %s]", w, lo, hi);
		free(w);
		usleep(i % 10 == 9 ? 250000 : 3000);
		if (!ok)
			break;
	}
}

int main(void)
{
	char path[] = "/tmp/dlockd-test-log-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || (capture = open(path, O_RDONLY)) < 0) {
		perror("temporary file");
		return 1;
	}
	unlink(path);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
	log_setup(LOG_INFO, LOG_TEXT);

	test_unbatched_lines_at_once();
	test_batched_lines_wait_for_flush();
	test_full_batch_written_whole();
	test_line_time();

	dup2(saved_stderr, 2);
	return unit_done();
}
