/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfectl-util.c — the text side of bfectl that src/shared does not have: context types given as
 * names or numbers, conditions, filter keys or ids, explain fields, JSON strings, and the
 * suggestions for a mistyped word. No I/O besides json_print_string(), no bus. Numbers,
 * actions, weights and hex blobs are src/shared/object.h's text forms.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bfectl-util.h"
#include "macro.h"
#include "object.h"
#include "wfp.h"

/* A provider context type: a number (passed on as is: the daemon validates it), or a name
 * wfp_context_type_from_string() knows. */
int parse_context_type(const char *s, uint32_t *ret) {
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (!isdigit((unsigned char) s[0]))
                return wfp_context_type_from_string(s, ret) < 0 ? -EINVAL : 0;
        r = text_parse_u64(s, 0, UINT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint32_t) v;
        return 0;
}

static bool is_field_char(char c) {
        /* condition names (IP_LOCAL_PORT), GUIDs, optionally in braces */
        return isalnum((unsigned char) c) || c == '_' || c == '-' || c == '{' || c == '}';
}

/*
 * FIELD=VALUE (match 0, equal), FIELD!=VALUE (match 10, not equal), FIELD:MATCH=VALUE (any
 * FWP_MATCH_TYPE number). VALUE is everything after the first '=' and may contain ':' and
 * '=' (IPv6 addresses); it must not be empty.
 */
int parse_condition(const char *s, BfeCondition *ret) {
        const char *p, *value;
        uint32_t match;
        char *field, *v;

        if (!s)
                return -EINVAL;
        for (p = s; is_field_char(*p); p++)
                ;
        if (p == s)
                return -EINVAL;

        if (p[0] == '=') {
                match = BFE_MATCH_EQUAL;
                value = p + 1;
        } else if (p[0] == '!' && p[1] == '=') {
                match = BFE_MATCH_NOT_EQUAL;
                value = p + 2;
        } else if (p[0] == ':') {
                const char *eq = strchr(p + 1, '=');
                char num[16];
                uint64_t m;
                int r;

                if (!eq || (size_t) (eq - p - 1) >= sizeof(num))
                        return -EINVAL;
                memcpy(num, p + 1, eq - p - 1);
                num[eq - p - 1] = 0;
                r = text_parse_u64(num, 0, UINT32_MAX, &m);
                if (r < 0)
                        return -EINVAL;
                match = (uint32_t) m;
                value = eq + 1;
        } else
                return -EINVAL;

        if (*value == 0)
                return -EINVAL;

        field = strndup(s, p - s);
        if (!field)
                return -ENOMEM;
        v = strdup(value);
        if (!v) {
                free(field);
                return -ENOMEM;
        }
        *ret = (BfeCondition) { .field = field, .match = match, .value = v };
        return 0;
}

void condition_done(BfeCondition *c) {
        free(c->field);
        free(c->value);
        *c = (BfeCondition) {};
}

int parse_key_or_id(const char *s, BfeKey *ret_key, uint64_t *ret_id, bool *ret_is_key) {
        BfeKey k;
        uint64_t id;

        if (bfe_key_from_string(s, &k) >= 0) {
                *ret_key = k;
                *ret_is_key = true;
                return 0;
        }
        if (text_parse_u64(s, 0, UINT64_MAX, &id) < 0 || id == 0)
                return -EINVAL;
        *ret_id = id;
        *ret_is_key = false;
        return 0;
}

/*
 * FIELD=VALUE, a packet field of bfectl explain. FIELD is a name (IP_LOCAL_PORT); VALUE is
 * everything after the first '=' and may be empty (FLAGS=).
 */
int parse_explain_field(const char *s, char **ret_name, const char **ret_value) {
        const char *p;
        char *name;

        if (!s)
                return -EINVAL;
        for (p = s; isalnum((unsigned char) *p) || *p == '_'; p++)
                ;
        if (p == s || *p != '=')
                return -EINVAL;
        name = strndup(s, p - s);
        if (!name)
                return -ENOMEM;
        *ret_name = name;
        *ret_value = p + 1;
        return 0;
}

/*
 * A JSON string literal, with its quotes. Control characters, '"' and '\' are escaped; other
 * bytes pass through (the daemon's strings are UTF-8). NULL gives the literal null.
 */
char *json_escape(const char *s) {
        char *out, *o;

        if (!s)
                return strdup("null");

        out = malloc(strlen(s) * 6 + 3);
        if (!out)
                return NULL;
        o = out;
        *o++ = '"';
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':
                        *o++ = '\\', *o++ = '"';
                        break;
                case '\\':
                        *o++ = '\\', *o++ = '\\';
                        break;
                case '\n':
                        *o++ = '\\', *o++ = 'n';
                        break;
                case '\r':
                        *o++ = '\\', *o++ = 'r';
                        break;
                case '\t':
                        *o++ = '\\', *o++ = 't';
                        break;
                case '\b':
                        *o++ = '\\', *o++ = 'b';
                        break;
                case '\f':
                        *o++ = '\\', *o++ = 'f';
                        break;
                default:
                        if (*p < 0x20)
                                o += sprintf(o, "\\u%04x", *p);
                        else
                                *o++ = (char) *p;
                }
        }
        *o++ = '"';
        *o = 0;
        return out;
}

void json_print_string(FILE *f, const char *s) {
        _cleanup_(freep) char *e = json_escape(s);

        fputs(e ?: "null", f);
}

#define EDIT_WORD_MAX 64

unsigned edit_distance(const char *a, const char *b) {
        /* three rows of the table: i - 2, i - 1, i */
        unsigned d[3][EDIT_WORD_MAX + 1];
        size_t la = strlen(a), lb = strlen(b);

        if (la > EDIT_WORD_MAX || lb > EDIT_WORD_MAX)
                return 255;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = (unsigned) j;
        for (size_t i = 1; i <= la; i++) {
                unsigned *row = d[i % 3], *prev = d[(i + 2) % 3], *prev2 = d[(i + 1) % 3];

                row[0] = (unsigned) i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned cost = a[i - 1] != b[j - 1], v = prev[j - 1] + cost;

                        if (prev[j] + 1 < v)
                                v = prev[j] + 1;
                        if (row[j - 1] + 1 < v)
                                v = row[j - 1] + 1;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
                                v = prev2[j - 2] + 1;
                        row[j] = v;
                }
        }
        return d[la % 3][lb] > 255 ? 255 : d[la % 3][lb];
}

const char *suggest(const char *word, const char *const *candidates, size_t n) {
        const char *best = NULL, *prefix = NULL;
        unsigned best_d = 3;
        size_t n_prefix = 0, lw;

        if (!word || !word[0])
                return NULL;
        lw = strlen(word);
        for (size_t i = 0; i < n; i++) {
                unsigned d;

                if (!candidates[i] || streq(candidates[i], word))
                        continue;
                if (strncmp(candidates[i], word, lw) == 0) {
                        prefix = candidates[i];
                        n_prefix++;
                }
                d = edit_distance(word, candidates[i]);
                /* "ab" is 2 from "xy": a suggestion must keep something of the word */
                if (d < best_d && d < lw && d < strlen(candidates[i])) {
                        best = candidates[i];
                        best_d = d;
                }
        }
        if (n_prefix == 1 && (!best || best_d > 1))
                return prefix;
        return best;
}
