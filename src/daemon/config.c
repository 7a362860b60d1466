/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config.c — see config.h. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <linux/netfilter/nf_tables.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "macro.h"

void config_init(Config *c) {
        *c = (Config) {
                .max_txn_usec = 3600 * 1000000ULL,
                .max_read_txn_usec = 60 * 1000000ULL,
                .bus_timeout_usec = 30 * 1000000ULL,
        };
        nft_config_init(&c->nft);
        snprintf(c->state_dir, sizeof(c->state_dir), "%s", BFED_STATEDIR);
}

static char *strip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

static int parse_long(const char *s, long min, long max, long *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 0);
        if (errno != 0 || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_boolean(const char *s, bool *ret) {
        if (strcaseeq(s, "yes") || strcaseeq(s, "true") || strcaseeq(s, "on") || streq(s, "1"))
                *ret = true;
        else if (strcaseeq(s, "no") || strcaseeq(s, "false") || strcaseeq(s, "off") || streq(s, "0"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static bool table_name_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n >= NFT_TABLE_NAME_MAX || !isalpha((unsigned char) s[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

static int set_key(Config *c, const char *key, const char *value, const char **ret_why) {
        long v;

        if (streq(key, "Table")) {
                if (!table_name_is_valid(value)) {
                        *ret_why = "a table name is a letter, then letters, digits, '_' or '-' (at most 63)";
                        return -EINVAL;
                }
                strcpy(c->nft.table, value);
        } else if (streq(key, "Priority")) {
                /* after conntrack (-200), and with priority + 1 still before filter (0) */
                if (parse_long(value, -199, -2, &v) < 0) {
                        *ret_why = "the priority is a number from -199 to -2";
                        return -EINVAL;
                }
                c->nft.priority = (int) v;
        } else if (streq(key, "LocalSystemUser")) {
                struct passwd *pw = getpwnam(value);

                if (pw)
                        c->nft.local_system_uid = pw->pw_uid;
                else if (parse_long(value, 0, INT_MAX - 1, &v) >= 0)
                        c->nft.local_system_uid = (uint32_t) v;
                else {
                        *ret_why = "no such user";
                        return -EINVAL;
                }
        } else if (streq(key, "StateDirectory")) {
                if (value[0] != '/' || strlen(value) >= sizeof(c->state_dir)) {
                        *ret_why = "the state directory is an absolute path";
                        return -EINVAL;
                }
                strcpy(c->state_dir, value);
        } else if (streq(key, "MaxTransactionSec")) {
                if (parse_long(value, 1, 7 * 24 * 3600, &v) < 0) {
                        *ret_why = "the maximum is a number of seconds from 1 to 604800";
                        return -EINVAL;
                }
                c->max_txn_usec = (uint64_t) v * 1000000ULL;
        } else if (streq(key, "MaxReadTransactionSec")) {
                if (parse_long(value, 1, 7 * 24 * 3600, &v) < 0) {
                        *ret_why = "the maximum is a number of seconds from 1 to 604800";
                        return -EINVAL;
                }
                c->max_read_txn_usec = (uint64_t) v * 1000000ULL;
        } else if (streq(key, "BusTimeoutSec")) {
                if (parse_long(value, 1, 3600, &v) < 0) {
                        *ret_why = "the timeout is a number of seconds from 1 to 3600";
                        return -EINVAL;
                }
                c->bus_timeout_usec = (uint64_t) v * 1000000ULL;
        } else if (streq(key, "ChunkSize")) {
                if (parse_long(value, 2, 65536, &v) < 0) {
                        *ret_why = "the chunk size is a number from 2 to 65536";
                        return -EINVAL;
                }
                c->nft.chunk_size = (size_t) v;
        } else if (streq(key, "SocketMark")) {
                if (!*value) {
                        c->nft.has_socket_mark = false;
                        return 0;
                }
                if (parse_long(value, 1, UINT32_MAX, &v) < 0) {
                        *ret_why = "the mark is a number from 1 to 0xffffffff, or empty for none";
                        return -EINVAL;
                }
                c->nft.has_socket_mark = true;
                c->nft.socket_mark = (uint32_t) v;
        } else if (streq(key, "KeepTable")) {
                if (parse_boolean(value, &c->keep_table) < 0) {
                        *ret_why = "expected yes or no";
                        return -EINVAL;
                }
        } else if (streq(key, "FilterRuns")) {
                if (parse_boolean(value, &c->nft.filter_runs) < 0) {
                        *ret_why = "expected yes or no";
                        return -EINVAL;
                }
        } else if (streq(key, "TableOwner")) {
                bool b;

                if (parse_boolean(value, &b) < 0) {
                        *ret_why = "expected yes or no";
                        return -EINVAL;
                }
                if (b)
                        c->nft.table_flags |= NFT_TABLE_F_OWNER;
                else
                        c->nft.table_flags &= ~(uint32_t) NFT_TABLE_F_OWNER;
        } else {
                *ret_why = "unknown key";
                return -ENOENT;
        }
        return 0;
}

int config_load(Config *c, const char *path, bool must_exist) {
        _cleanup_(fclosep) FILE *f = NULL;
        char line[1024], section[64] = "";
        unsigned lineno = 0;

        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT && !must_exist) {
                        log_debug("No configuration file %s, using the defaults.", path);
                        return 0;
                }
                return log_error_errno(-errno, "Failed to open configuration file %s: %m", path);
        }

        while (fgets(line, sizeof(line), f)) {
                char *s = strip(line), *eq;
                const char *why = NULL;

                lineno++;
                if (!*s || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        char *end = strchr(s, ']');
                        if (!end || end[1] || (size_t) (end - s) >= sizeof(section))
                                return log_error_errno(-EINVAL, "%s:%u: malformed section header", path, lineno);
                        *end = 0;
                        strcpy(section, s + 1);
                        if (!streq(section, "Engine"))
                                return log_error_errno(-EINVAL, "%s:%u: unknown section [%s]", path, lineno, section);
                        continue;
                }
                eq = strchr(s, '=');
                if (!eq)
                        return log_error_errno(-EINVAL, "%s:%u: expected Key=Value", path, lineno);
                *eq = 0;
                if (!streq(section, "Engine"))
                        return log_error_errno(-EINVAL, "%s:%u: key outside the [Engine] section", path, lineno);
                if (set_key(c, strip(s), strip(eq + 1), &why) < 0)
                        return log_error_errno(-EINVAL, "%s:%u: %s=%s: %s", path, lineno, strip(s), strip(eq + 1), why);
        }
        if (ferror(f))
                return log_error_errno(-EIO, "Failed to read %s", path);
        return 0;
}
