/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* string-util.h — small helpers for building strings. */
#pragma once

#include <stdarg.h>

#include "macro.h"

/* The text @fmt formats with @ap, in a new string (free() it); NULL when there is no memory.
 * Unlike vasprintf(), the result is defined on failure: a message formatter can store it as
 * it comes and test for NULL. */
char *strdup_vprintf(const char *fmt, va_list ap) _printf_(1, 0);
