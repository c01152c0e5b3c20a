#pragma once
/* The C unit tests' checks: each CHECK counts a pass or prints the failed
 * expression with file:line; CHECK_DONE() prints "N passed, M failed"
 * (the closing line ctest's log shows) and gives main's exit status. */
#include <stdio.h>
#include <string.h>

static int passed, failed;
#define CHECK(c) do { \
	if (c) passed++; \
	else { failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); } \
} while (0)
#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (a_ && b_ && !strcmp(a_, b_)) passed++; \
	else { failed++; fprintf(stderr, "%s:%d: %s\n  got:      %s\n  expected: %s\n", \
		__FILE__, __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } \
} while (0)
/* CHECK with a printf-style note of the context. */
#define CHECKF(c, ...) do { \
	if (c) passed++; \
	else { failed++; fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #c); \
		fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)
#define CHECK_DONE() (printf("%d passed, %d failed\n", passed, failed), failed ? 1 : 0)
