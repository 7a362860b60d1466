/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.h — leveled logging to stderr, with <N> priority prefixes when stderr is the journal. */
#pragma once

#include <stddef.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);
void log_parse_environment(void); /* BFED_LOG_LEVEL=debug|info|notice|warning|err */
void log_set_program_name(const char *name); /* the prefix of each line: "bfed" unless set */

/* Logs and returns @error unchanged (negative), so callers can write: return log_error_errno(r, …). */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...) log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)
#define log_full(level, ...) (void) log_internal((level), 0, __FILE__, __LINE__, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, (e), __VA_ARGS__)

/* A log line as it is written: @src with invalid UTF-8 as '?' and each control character
 * (newline, escape, …, DEL) as \xNN, so that a name a caller chose can neither start a forged
 * line of its own (with the journal's <N> priority) nor drive a terminal; cut to @size at a
 * character boundary. Return: @dst. */
char *log_escape(char *dst, size_t size, const char *src);

/* Text for a negative return: the WFP name for WFP errors, strerror() otherwise. */
const char *bfe_strerror(int r);
