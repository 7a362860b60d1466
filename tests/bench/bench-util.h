/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-util.h — what the benchmark's small tools share: the clock, a sort order, the --only
 * selection (libnftnl batches are bench-nl.h's).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);
/* qsort() order of uint64_t. */
int compare_u64(const void *a, const void *b);
/* A count given on the command line: a whole number above 0, or 0 for anything else. */
unsigned parse_count(const char *s);
/* Whether @name is in the comma-separated list @only (NULL: everything is). */
bool name_selected(const char *only, const char *name);
