/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * swconf.c — reading strongswan.conf (see swconf.h).
 *
 * The grammar, from strongswan.conf(5): a file is a run of sections (NAME { … }, or
 * NAME : REFERENCES { … }), key/values (NAME = VALUE, the value running to the end of the
 * line, or a "quoted string" with \-escapes), include PATTERN lines, and # comments. Names may
 * hold any printable character but . , : { } = " # and blanks. An included file's settings go
 * to the section the include is in. A key set again replaces the earlier value.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "fileio.h"
#include "macro.h"
#include "string-util.h"
#include "swconf.h"

typedef struct Entry {
        char *key;
        char *value;
} Entry;

struct SwConf {
        Entry *entries;
        size_t n_entries, n_alloc;
        unsigned n_files;
};

/* One file being read. */
typedef struct Parser {
        SwConf *conf;
        const char *name;
        const char *dir;        /* for includes; NULL: includes are ignored */
        const char *p, *end;
        unsigned line;
        char *path;             /* the dotted name of the section we are in, "" at the root */
        size_t depth;           /* of sections, this file's and its includers' */
        char **error;
} Parser;

SwConf *swconf_new(void) {
        return calloc(1, sizeof(SwConf));
}

SwConf *swconf_free(SwConf *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_entries; i++)
                free_many(c->entries[i].key, c->entries[i].value);
        free(c->entries);
        free(c);
        return NULL;
}

static int fail(Parser *ps, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(Parser *ps, int r, const char *fmt, ...) {
        _cleanup_(freep) char *what = NULL;
        va_list ap;

        if (!ps->error || *ps->error)
                return r;
        va_start(ap, fmt);
        what = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (asprintf(ps->error, "%s:%u: %s", ps->name, ps->line, what ?: "out of memory") < 0)
                *ps->error = NULL;
        return r;
}

static int set(Parser *ps, const char *name, size_t name_len, char *value) {
        _cleanup_(freep) char *owned = value, *key = NULL;
        SwConf *c = ps->conf;

        if (asprintf(&key, "%s%s%.*s", ps->path, *ps->path ? "." : "", (int) name_len, name) < 0)
                return -ENOMEM;
        if (strlen(key) > SWCONF_KEY_MAX)
                return fail(ps, -EINVAL, "key longer than %d bytes", SWCONF_KEY_MAX);
        for (size_t i = 0; i < c->n_entries; i++)
                if (streq(c->entries[i].key, key)) {
                        free(c->entries[i].value);
                        c->entries[i].value = TAKE_PTR(owned);
                        return 0;
                }
        if (c->n_entries >= SWCONF_KEYS_MAX)
                return fail(ps, -EINVAL, "more than %d keys", SWCONF_KEYS_MAX);
        if (!ARRAY_RESERVE(c->entries, c->n_alloc, c->n_entries + 1, 64))
                return -ENOMEM;
        c->entries[c->n_entries++] = (Entry) { .key = TAKE_PTR(key), .value = TAKE_PTR(owned) };
        return 0;
}

static bool is_name_char(char ch) {
        return (unsigned char) ch > ' ' && ch != 0x7F && !strchr(".,:{}=\"#", ch);
}

static void skip_blanks(Parser *ps) {
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
                ps->p++;
}

/* Blanks, line ends and comments. */
static void skip_space(Parser *ps) {
        for (;;) {
                skip_blanks(ps);
                if (ps->p >= ps->end)
                        return;
                if (*ps->p == '#')
                        while (ps->p < ps->end && *ps->p != '\n')
                                ps->p++;
                else if (*ps->p == '\n') {
                        ps->line++;
                        ps->p++;
                } else
                        return;
        }
}

/* Appends @ch to the value being read. */
static int put_char(Parser *ps, char *v, size_t *n, char ch) {
        if (ch == 0)
                return fail(ps, -EINVAL, "NUL byte in a value");
        if (*n >= SWCONF_VALUE_MAX)
                return fail(ps, -EINVAL, "value longer than %d bytes", SWCONF_VALUE_MAX);
        v[(*n)++] = ch;
        return 0;
}

/* A "quoted" part: \n, \r, \t, \ before a line end joins the lines, \ before anything else is
 * that thing. */
static int read_quoted(Parser *ps, char *v, size_t *n) {
        unsigned start = ps->line;
        int r;

        for (ps->p++; ps->p < ps->end && *ps->p != '"'; ps->p++) {
                char ch = *ps->p;

                if (ch == '\n')
                        ps->line++;
                if (ch == '\r')
                        continue;
                if (ch == '\\' && ps->p + 1 < ps->end) {
                        ch = *++ps->p;
                        if (ch == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n')
                                ch = *++ps->p;
                        if (ch == '\n') {
                                ps->line++;
                                continue;
                        }
                        ch = ch == 'n' ? '\n' : ch == 'r' ? '\r' : ch == 't' ? '\t' : ch;
                }
                r = put_char(ps, v, n, ch);
                if (r < 0)
                        return r;
        }
        if (ps->p >= ps->end) {
                ps->line = start;       /* where it opened */
                return fail(ps, -EINVAL, "quoted value not closed");
        }
        ps->p++;
        return 0;
}

/*
 * The value after "=": parts (quoted, or runs of anything but blanks, quotes, # and }) up to
 * the end of the line, a comment or a '}', joined by one space; or, with @include, the file
 * pattern after "include", which ends at a blank too, and where \ escapes a blank, ", # or }.
 */
static int read_value(Parser *ps, bool include, char **ret) {
        _cleanup_(freep) char *v = malloc(SWCONF_VALUE_MAX + 1);
        size_t n = 0;
        int r;

        if (!v)
                return -ENOMEM;
        skip_blanks(ps);
        while (ps->p < ps->end && *ps->p && !strchr("#}\n", *ps->p)) {
                if (n > 0 && (r = put_char(ps, v, &n, ' ')) < 0)
                        return r;
                if (*ps->p == '"')
                        r = read_quoted(ps, v, &n);
                else
                        for (r = 0; r >= 0 && ps->p < ps->end && *ps->p && !strchr("#}\"\n\t \r", *ps->p); ps->p++) {
                                if (include && *ps->p == '\\' && ps->p + 1 < ps->end && strchr("\"#} ", ps->p[1]))
                                        ps->p++;
                                r = put_char(ps, v, &n, *ps->p);
                        }
                if (r < 0)
                        return r;
                skip_blanks(ps);
                if (include)
                        break;
        }
        if (ps->p < ps->end && *ps->p == 0)
                return fail(ps, -EINVAL, "NUL byte in a value");
        v[n] = 0;
        *ret = TAKE_PTR(v);
        return 0;
}

static int load_file(SwConf *c, const char *path, const char *section, size_t depth, char **ret_error);

/* include PATTERN: every file it matches, in order, into the current section. */
static int include(Parser *ps, const char *pattern) {
        _cleanup_(freep) char *full = NULL;
        glob_t g = {};
        int r = 0;

        if (!ps->dir)
                return 0;
        if (ps->depth >= SWCONF_DEPTH_MAX)
                return fail(ps, -EINVAL, "includes nested more than %d deep", SWCONF_DEPTH_MAX);
        if (asprintf(&full, "%s%s%s", pattern[0] == '/' ? "" : ps->dir, pattern[0] == '/' ? "" : "/", pattern) < 0)
                return -ENOMEM;
        if (glob(full, GLOB_ERR, NULL, &g) != 0) {
                globfree(&g);
                return 0;       /* no match is fine, as for charon */
        }
        for (size_t i = 0; i < g.gl_pathc && r >= 0; i++)
                r = load_file(ps->conf, g.gl_pathv[i], ps->path, ps->depth + 1, ps->error);
        globfree(&g);
        return r;
}

static int open_section(Parser *ps, const char *name, size_t len) {
        size_t n = strlen(ps->path);
        char *p;

        if (ps->depth >= SWCONF_DEPTH_MAX)
                return fail(ps, -EINVAL, "sections nested more than %d deep", SWCONF_DEPTH_MAX);
        if (n + 1 + len > SWCONF_KEY_MAX)
                return fail(ps, -EINVAL, "section name longer than %d bytes", SWCONF_KEY_MAX);
        p = realloc(ps->path, n + 1 + len + 1);
        if (!p)
                return -ENOMEM;
        ps->path = p;
        (void) sprintf(p + n, "%s%.*s", n ? "." : "", (int) len, name);
        ps->depth++;
        return 0;
}

static void close_section(Parser *ps) {
        char *dot = strrchr(ps->path, '.');

        *(dot ?: ps->path) = 0;
        ps->depth--;
}

/* One statement, at a name: a key/value, a section's start, or an include. */
static int statement(Parser *ps) {
        const char *name = ps->p;
        size_t len;
        int r;

        while (ps->p < ps->end && is_name_char(*ps->p))
                ps->p++;
        len = (size_t) (ps->p - name);
        if (len == 0)
                return fail(ps, -EINVAL, "unexpected '%c'", *ps->p >= ' ' && *ps->p < 0x7F ? *ps->p : '?');
        skip_blanks(ps);
        if (len == 7 && memcmp(name, "include", 7) == 0 && ps->p < ps->end && !strchr("={:", *ps->p)) {
                _cleanup_(freep) char *pattern = NULL;

                r = read_value(ps, true, &pattern);
                if (r < 0)
                        return r;
                return pattern[0] ? include(ps, pattern) : fail(ps, -EINVAL, "include without a file");
        }
        if (ps->p < ps->end && *ps->p == '=') {
                char *value = NULL;

                ps->p++;
                r = read_value(ps, false, &value);
                if (r < 0)
                        return r;
                return set(ps, name, len, value);
        }
        /* NAME [: REFERENCES] {; the references are skipped */
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ':')
                while (ps->p < ps->end && *ps->p != '{' && *ps->p != '\n')
                        ps->p++;
        if (ps->p >= ps->end || *ps->p != '{')
                return fail(ps, -EINVAL, "expected '=' or '{' after '%.*s'", (int) (len > 64 ? 64 : len), name);
        ps->p++;
        return open_section(ps, name, len);
}

static int parse(Parser *ps) {
        size_t base = ps->depth;
        int r;

        for (;;) {
                skip_space(ps);
                if (ps->p >= ps->end)
                        break;
                if (*ps->p == '}') {
                        if (ps->depth == base)
                                return fail(ps, -EINVAL, "'}' without a section");
                        close_section(ps);
                        ps->p++;
                        continue;
                }
                r = statement(ps);
                if (r < 0)
                        return r;
        }
        if (ps->depth > base)
                return fail(ps, -EINVAL, "section '%s' not closed", ps->path);
        return 0;
}

static int load_buffer(SwConf *c, const char *name, const char *dir, const char *section, size_t depth,
                       const char *data, size_t size, char **ret_error) {
        _cleanup_(freep) char *path = strdup(section);
        Parser ps = { .conf = c, .name = name, .dir = dir, .p = data, .end = data + size, .line = 1,
                      .depth = depth, .error = ret_error };
        int r;

        if (!path)
                return -ENOMEM;
        if (++c->n_files > SWCONF_FILES_MAX)
                return fail(&ps, -EINVAL, "more than %d files", SWCONF_FILES_MAX);
        ps.path = TAKE_PTR(path);
        r = parse(&ps);
        free(ps.path);
        return r;
}

static int load_file(SwConf *c, const char *path, const char *section, size_t depth, char **ret_error) {
        _cleanup_(freep) char *data = NULL, *dir = NULL;
        _cleanup_(closep) int fd = -1;
        const char *slash = strrchr(path, '/');
        size_t size;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                r = -errno;
        else
                r = read_regular_file(fd, SWCONF_FILE_MAX, &data, &size, NULL);
        if (r < 0) {
                if (ret_error && !*ret_error && asprintf(ret_error, "%s: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        dir = slash ? strndup(path, (size_t) (slash - path) + (slash == path)) : strdup(".");
        if (!dir)
                return -ENOMEM;
        return load_buffer(c, path, dir, section, depth, data, size, ret_error);
}

int swconf_load(SwConf *c, const char *path, char **ret_error) {
        return load_file(c, path, "", 0, ret_error);
}

int swconf_load_buffer(SwConf *c, const char *name, const char *dir, const char *data, size_t size,
                       char **ret_error) {
        return load_buffer(c, name, dir, "", 0, data, size, ret_error);
}

const char *swconf_get(const SwConf *c, const char *key) {
        for (size_t i = 0; c && i < c->n_entries; i++)
                if (streq(c->entries[i].key, key))
                        return c->entries[i].value;
        return NULL;
}

size_t swconf_size(const SwConf *c) {
        return c->n_entries;
}

void swconf_entry(const SwConf *c, size_t i, const char **ret_key, const char **ret_value) {
        *ret_key = c->entries[i].key;
        *ret_value = c->entries[i].value;
}

int swconf_parse_mark(const char *s, uint32_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno == ERANGE || v > UINT32_MAX)
                return -ERANGE;
        if (end == s || (*end && *end != '/'))
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}
