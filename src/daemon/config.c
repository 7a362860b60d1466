/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config.c — bfed.conf: reading it safely, parsing it line by line, checking every key. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netfilter/nf_tables.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "string-util.h"

void config_init(Config *c) {
        *c = (Config) {
                .max_txn_usec = 3600 * 1000000ULL,
                .max_read_txn_usec = 60 * 1000000ULL,
                .bus_timeout_usec = 30 * 1000000ULL,
                .firewalld = FIREWALLD_AUTO,
                .obstacle_analysis = true,
                .log_level = -1,
        };
        nft_config_init(&c->nft);
        snprintf(c->state_dir, sizeof(c->state_dir), "%s", BFED_STATEDIR);
        snprintf(c->private_socket, sizeof(c->private_socket), "%s", BFED_PRIVATE_SOCKET);
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
                /* after conntrack (-200), and with priority + 2 (ALE_FLOW_ESTABLISHED) still before
                 * filter (0) */
                if (parse_long(value, -199, -3, &v) < 0) {
                        *ret_why = "the priority is a number from -199 to -3";
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
        } else if (streq(key, "PrivateSocket")) {
                if ((*value && value[0] != '/') || strlen(value) >= sizeof(c->private_socket)) {
                        *ret_why = "the private socket is an absolute path of at most 107 bytes, or empty (none)";
                        return -EINVAL;
                }
                strcpy(c->private_socket, value);
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
        } else if (streq(key, "ObstacleAnalysis")) {
                if (parse_boolean(value, &c->obstacle_analysis) < 0) {
                        *ret_why = "expected yes or no";
                        return -EINVAL;
                }
        } else if (streq(key, "FilterRuns")) {
                if (parse_boolean(value, &c->nft.filter_runs) < 0) {
                        *ret_why = "expected yes or no";
                        return -EINVAL;
                }
        } else if (streq(key, "NetEventLogGroup")) {
                if (parse_long(value, 1, UINT16_MAX, &v) < 0) {
                        *ret_why = "the nflog group is a number from 1 to 65535";
                        return -EINVAL;
                }
                c->nft.log_group = (uint16_t) v;
        } else if (streq(key, "Firewalld")) {
                bool b;

                if (strcaseeq(value, "auto"))
                        c->firewalld = FIREWALLD_AUTO;
                else if (parse_boolean(value, &b) >= 0)
                        c->firewalld = b ? FIREWALLD_YES : FIREWALLD_NO;
                else {
                        *ret_why = "expected auto, yes or no";
                        return -EINVAL;
                }
        } else if (streq(key, "LogLevel")) {
                if (!*value) {
                        c->log_level = -1;
                        return 0;
                }
                c->log_level = log_level_from_string(value);
                if (c->log_level < 0) {
                        *ret_why = "expected emerg, alert, crit, err, warning, notice, info or debug";
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

/* "NAME:LINE: what" into *ret_error; returns -EINVAL. */
static _printf_(4, 5) int parse_error(char **ret_error, const char *name, unsigned lineno, const char *fmt, ...) {
        _cleanup_(freep) char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!msg)
                return -ENOMEM;
        if (ret_error && asprintf(ret_error, "%s:%u: %s", name, lineno, msg) < 0) {
                *ret_error = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

/**
 * config_load_buffer() - parse a configuration file's content over @c.
 * @c: the configuration so far (defaults); changed only on success
 * @name: the file's name, for messages
 * @data, @size: the content (need not be NUL-terminated)
 * @ret_error: on failure "NAME:LINE: what is wrong"; may be NULL
 *
 * Does not log (the fuzzer's entry point; config_load() logs). A line is whatever lies
 * between two newlines, however long: a long comment cannot spill into a key.
 *
 * Return: 0, -EINVAL for a bad line (also for a NUL byte), or -ENOMEM.
 */
int config_load_buffer(Config *c, const char *name, const void *data, size_t size, char **ret_error) {
        _cleanup_(freep) char *line = NULL;
        const char *p = data, *end = p + size;
        char section[64] = "";
        unsigned lineno = 0;
        Config new = *c;
        size_t alloc = 0;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = (size_t) ((nl ?: end) - p);
                const char *why = NULL;
                char *s, *eq;

                lineno++;
                if (memchr(p, 0, len))
                        return parse_error(ret_error, name, lineno, "the line contains a NUL byte");
                if (len + 1 > alloc) {
                        char *b = realloc(line, len + 1);

                        if (!b)
                                return -ENOMEM;
                        line = b;
                        alloc = len + 1;
                }
                memcpy(line, p, len);
                line[len] = 0;
                p += len + (nl ? 1 : 0);

                s = strip(line);
                if (!*s || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        char *close = strchr(s, ']');
                        if (!close || close[1] || (size_t) (close - s) >= sizeof(section))
                                return parse_error(ret_error, name, lineno, "malformed section header");
                        *close = 0;
                        strcpy(section, s + 1);
                        if (!streq(section, "Engine"))
                                return parse_error(ret_error, name, lineno, "unknown section [%s]", section);
                        continue;
                }
                eq = strchr(s, '=');
                if (!eq)
                        return parse_error(ret_error, name, lineno, "expected Key=Value");
                *eq = 0;
                if (!streq(section, "Engine"))
                        return parse_error(ret_error, name, lineno, "key outside the [Engine] section");
                if (set_key(&new, strip(s), strip(eq + 1), &why) < 0)
                        return parse_error(ret_error, name, lineno, "%s=%s: %s", strip(s), strip(eq + 1), why);
        }
        *c = new;
        return 0;
}

static int config_load_file(Config *c, const char *path, bool must_exist) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *data = NULL, *why = NULL;
        size_t size = 0;
        mode_t mode = 0;
        int r;

        /* A symbolic link is followed (configuration management links files into /etc), but
         * the open does not block: a FIFO here would otherwise hang the start for good. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ENOENT && !must_exist) {
                        log_debug("No configuration file %s, using the defaults.", path);
                        return 0;
                }
                return log_error_errno(-errno, "Failed to open configuration file %s: %m", path);
        }
        r = read_regular_file(fd, CONFIG_FILE_MAX, &data, &size, &mode);
        if (r == -EINVAL)
                return log_error_errno(r, "Configuration file %s is %s, not a regular file.", path,
                                       file_type_to_string(mode));
        if (r == -EFBIG)
                return log_error_errno(r, "Configuration file %s is larger than %d bytes.", path, CONFIG_FILE_MAX);
        if (r < 0)
                return log_error_errno(r, "Failed to read configuration file %s: %m", path);
        r = config_load_buffer(c, path, data, size, &why);
        if (r < 0)
                return log_error_errno(r, "%s", why ?: bfe_strerror(r));
        return 0;
}

static int dropin_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".conf");
}

int config_load(Config *c, const char *path, bool must_exist) {
        _cleanup_(freep) char *dir = NULL;
        struct dirent **list = NULL;
        Config new = *c;
        int n, r;

        r = config_load_file(&new, path, must_exist);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s.d", path) < 0)
                return log_error_errno(-ENOMEM, "Failed to read the configuration: %m");
        n = scandir(dir, &list, dropin_filter, alphasort);
        if (n < 0) {
                if (errno == ENOENT || errno == ENOTDIR) {
                        *c = new;
                        return 0;
                }
                return log_error_errno(-errno, "Failed to read the configuration directory %s: %m", dir);
        }
        if (n > CONFIG_DROPINS_MAX)
                r = log_error_errno(-E2BIG, "The configuration directory %s has %d drop-ins, more than %d.", dir, n,
                                    CONFIG_DROPINS_MAX);
        for (int i = 0; i < n; i++) {
                _cleanup_(freep) char *file = NULL;

                if (r >= 0 && asprintf(&file, "%s/%s", dir, list[i]->d_name) < 0)
                        r = log_error_errno(-ENOMEM, "Failed to read the configuration: %m");
                if (r >= 0)
                        r = config_load_file(&new, file, true);
                free(list[i]);
        }
        free(list);
        if (r < 0)
                return r;
        *c = new;
        return 0;
}
