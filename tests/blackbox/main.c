/* dlockd black-box test suite entry point: runs every suite of HARNESS_SUITES (harness.h). */
#include "harness.h"

int main(void)
{
#define SUITE_ENTRY(s) tests_##s,
	static const struct test *const suites[] = {HARNESS_SUITES(SUITE_ENTRY) NULL};
#undef SUITE_ENTRY
	return harness_main(suites);
}
