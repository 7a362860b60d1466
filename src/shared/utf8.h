/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * utf8.h — UTF-8 as D-Bus and sd-bus want it: every string bfed sends on the bus must be
 * valid, so text from callers, files and the kernel is checked here, and text that bfed
 * shortens is cut on a character boundary. "Valid" is what sd-bus accepts: no overlong
 * forms, no surrogates, nothing above U+10FFFF, no noncharacters (U+FDD0–U+FDEF, U+xFFFE,
 * U+xFFFF), and no NUL inside the string.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Whether the NUL-terminated @s is valid UTF-8. */
bool utf8_is_valid(const char *s);

/* Whether the @n bytes at @s are valid UTF-8 without a NUL. */
bool utf8_is_valid_n(const char *s, size_t n);

/* The length in bytes of the longest prefix of the NUL-terminated @s that is at most @max
 * bytes and does not end inside a character. */
size_t utf8_cut_len(const char *s, size_t max);

/* Cuts @s in place to at most @max bytes, on a character boundary. Returns @s. */
char *utf8_truncate(char *s, size_t max);

/* Makes @s valid in place: a character cut off at the end (by snprintf, say) is removed,
 * and every other byte that is not part of a valid character becomes '?'. Returns @s. */
char *utf8_make_valid(char *s);

/* utf8_make_valid(), and every control character (C0 and DEL) becomes '?' too: a text from
 * outside (the kernel, another daemon) fit for a log, a terminal and the bus. Returns @s. */
char *utf8_make_printable(char *s);

/*
 * utf8_escape() - the @n bytes at @s as text to show (a name from another program, say):
 * valid UTF-8 without control characters. Printable characters stay as they are, a backslash
 * doubles, and every other byte — a control character (C0, DEL, C1), a NUL, a byte of no valid
 * character — becomes \xNN. The result is cut to at most @max bytes, between characters or
 * escapes. Return: a new string (free() it), NULL when there is no memory.
 */
char *utf8_escape(const char *s, size_t n, size_t max);
