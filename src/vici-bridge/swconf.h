/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * swconf.h — the settings of strongSwan's strongswan.conf, read as charon reads them, for the
 * few the bridge wants (charon's socket mark, its vici socket): sections, key = value lines,
 * comments, quoted values, and include (relative to the including file, with shell
 * wildcards). A section's references to other sections (name : other { … }) are not followed.
 * Everything is bounded: a file is at most SWCONF_FILE_MAX bytes, at most SWCONF_FILES_MAX
 * files, SWCONF_KEYS_MAX keys, keys (dotted, from the root) of SWCONF_KEY_MAX bytes, values of
 * SWCONF_VALUE_MAX, sections and includes nested SWCONF_DEPTH_MAX deep.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define SWCONF_FILE_MAX (1024 * 1024)
#define SWCONF_FILES_MAX 256
#define SWCONF_KEYS_MAX 8192
#define SWCONF_KEY_MAX 512
#define SWCONF_VALUE_MAX 4096
#define SWCONF_DEPTH_MAX 16

/* strongSwan's default, and the environment variable that overrides it (as for charon). */
#define SWCONF_DEFAULT_PATH "/etc/strongswan.conf"
#define SWCONF_ENV "STRONGSWAN_CONF"

typedef struct SwConf SwConf;

SwConf *swconf_new(void);
SwConf *swconf_free(SwConf *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwConf *, swconf_free);

/**
 * swconf_load() - read strongswan.conf at @path and the files it includes into @c.
 * @ret_error: on failure, "FILE:LINE: what" (malloc()ed)
 *
 * Return: 0; -EINVAL for a syntax error or a limit passed; the errno of reading a file
 * (-ENOENT: there is none); -ENOMEM. @c holds what was read before the failure.
 */
int swconf_load(SwConf *c, const char *path, char **ret_error);

/**
 * swconf_load_buffer() - the same for the text of one file, named @name in messages; an
 * include is read relative to the folder @dir, or ignored when @dir is NULL.
 */
int swconf_load_buffer(SwConf *c, const char *name, const char *dir, const char *data, size_t size,
                       char **ret_error);

/* The value of @key ("charon.plugins.socket-default.fwmark"), the last one set; NULL if unset. */
const char *swconf_get(const SwConf *c, const char *key);

/* The number of keys set, and the @i-th (for tests). */
size_t swconf_size(const SwConf *c);
void swconf_entry(const SwConf *c, size_t i, const char **ret_key, const char **ret_value);

/**
 * swconf_parse_mark() - a mark as charon reads it (mark_from_string()): a number, decimal, 0x
 * hex or 0 octal, optionally followed by /MASK, which the socket mark does not use.
 * Return: 0; -EINVAL; -ERANGE over 32 bits.
 */
int swconf_parse_mark(const char *s, uint32_t *ret);
