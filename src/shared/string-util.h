/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* string-util.h — small helpers for building strings. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* The text @fmt formats with @ap, in a new string (free() it); NULL when there is no memory.
 * Unlike vasprintf(), the result is defined on failure: a message formatter can store it as
 * it comes and test for NULL. */
char *strdup_vprintf(const char *fmt, va_list ap) _printf_(1, 0);

/* @v in decimal at @buf, with a NUL after it; returns its length. No printf: numbers are most of
 * the text bfed renders (a table's image, each added filter's condition values). */
#define DECIMAL_U64_MAX 21      /* 20 digits and the NUL */
size_t decimal_u64(uint64_t v, char buf[static DECIMAL_U64_MAX]);
