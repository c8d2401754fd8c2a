/* spec: openapi.yaml, pulled in by the assembler's .incbin. See spec.h. */
#include "server/spec.h"

#ifndef SPEC_PATH
#error "SPEC_PATH must name openapi.yaml (the Makefile sets it)"
#endif

__asm__(".section .rodata\n"
        ".balign 16\n"
        "dlockd_spec_start:\n"
        ".incbin \"" SPEC_PATH "\"\n"
        "dlockd_spec_end:\n"
        ".byte 0\n"
        ".previous\n");

extern const char dlockd_spec_start[], dlockd_spec_end[];

const char *spec_text(size_t *len)
{
	*len = (size_t)(dlockd_spec_end - dlockd_spec_start);
	return dlockd_spec_start;
}
