/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.h — leveled logging to stderr, with <N> priority prefixes when stderr is the journal. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* SYSTEMD_LOG_LEVEL, else BFED_LOG_LEVEL (its alias): 1 if one set the level, 0 if neither is
 * set, -EINVAL for a bad value (logged, naming the variable) */
int log_parse_environment(void);
/* "emerg" … "debug" (syslog's names, any case) or "0" … "7": the level, or -EINVAL */
int log_level_from_string(const char *s);
void log_set_program_name(const char *name); /* the prefix of each line: "bfed" unless set */

/* Logs and returns @error unchanged (negative), so callers can write: return log_error_errno(r, …). */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);
/* The same with journal fields: @fields, "KEY=value" strings ending with NULL, go with the message
 * when it goes to the journal (MESSAGE_ID=, BFED_CALLER_UID=, …); elsewhere only the message. */
int log_struct_internal(int level, int error, const char *file, int line, const char *const *fields,
                        const char *fmt, ...) _printf_(6, 7);
#define log_struct(level, fields, ...) (void) log_struct_internal((level), 0, __FILE__, __LINE__, (fields), __VA_ARGS__)

/* Sends one entry to the journal (the daemon's, on sd_journal_sendv(): this library does not link
 * libsystemd); negative if it could not. Used only when stderr is the journal's stream. */
typedef int (*LogJournalWriter)(int level, int error, const char *file, int line, const char *message,
                                const char *const *fields);
void log_set_journal_writer(LogJournalWriter writer);

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
