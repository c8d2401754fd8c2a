/* dlockd black-box test suite entry point. */
#include "harness.h"

int main(void)
{
	static const struct test *const suites[] = {
	    tests_locks,   tests_renew_release, tests_inspect_list, tests_fence_expiry, tests_validation, tests_ops,
	    tests_backend, tests_concurrency,   tests_wait,         tests_redlock,      tests_safety,     NULL,
	};
	return harness_main(suites);
}
