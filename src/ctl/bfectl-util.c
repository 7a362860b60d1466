/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfectl-util.c — the text side of bfectl: numbers, hex blobs, context type names, actions,
 * weights, conditions and JSON strings. No I/O besides json_print_string(), no bus.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bfectl-util.h"
#include "macro.h"

int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        /* strtoull() accepts a sign and leading blanks; we want a plain number. */
        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno != 0)
                return -errno;
        if (*end != 0)
                return -EINVAL;
        *ret = (uint64_t) v;
        return 0;
}

int parse_u32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r;

        r = parse_u64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) tolower((unsigned char) c);
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* "0a1b2c" or "0x0a1b2c"; an empty string gives an empty blob. */
int parse_hex_blob(const char *s, BfeBlob *ret) {
        uint8_t *data = NULL;
        size_t len, n;

        if (!s)
                return -EINVAL;
        if (strncasecmp(s, "0x", 2) == 0)
                s += 2;
        len = strlen(s);
        if (len % 2 != 0)
                return -EINVAL;
        n = len / 2;

        if (n > 0) {
                data = malloc(n);
                if (!data)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);

                if (hi < 0 || lo < 0) {
                        free(data);
                        return -EINVAL;
                }
                data[i] = (uint8_t) (hi << 4 | lo);
        }
        *ret = (BfeBlob) { .data = data, .size = n };
        return 0;
}

char *format_hex_blob(const BfeBlob *b) {
        char *s;

        s = malloc(b->size * 2 + 1);
        if (!s)
                return NULL;
        for (size_t i = 0; i < b->size; i++)
                sprintf(s + 2 * i, "%02x", b->data[i]);
        s[b->size * 2] = 0;
        return s;
}

/* FWPM_PROVIDER_CONTEXT_TYPE values by their bfectl names. */
static const char *const context_types[] = {
        [BFE_CONTEXT_IPSEC_KEYING] = "keying",
        [BFE_CONTEXT_IPSEC_IKE_QM_TRANSPORT] = "ike-qm-transport",
        [BFE_CONTEXT_IPSEC_IKE_QM_TUNNEL] = "ike-qm-tunnel",
        [BFE_CONTEXT_IPSEC_AUTHIP_QM_TRANSPORT] = "authip-qm-transport",
        [BFE_CONTEXT_IPSEC_AUTHIP_QM_TUNNEL] = "authip-qm-tunnel",
        [BFE_CONTEXT_IPSEC_IKE_MM] = "ike-mm",
        [BFE_CONTEXT_IPSEC_AUTHIP_MM] = "authip-mm",
        [BFE_CONTEXT_CLASSIFY_OPTIONS] = "classify-options",
        [BFE_CONTEXT_GENERAL] = "general",
        [BFE_CONTEXT_IPSEC_IKEV2_QM_TUNNEL] = "ikev2-qm-tunnel",
        [BFE_CONTEXT_IPSEC_IKEV2_MM] = "ikev2-mm",
        [BFE_CONTEXT_IPSEC_DOSP] = "dosp",
        [BFE_CONTEXT_IPSEC_IKEV2_QM_TRANSPORT] = "ikev2-qm-transport",
};

/* Compares ignoring case and treating '_' as '-', so IKE_MM and ike-mm both work. */
static bool name_eq(const char *a, const char *b) {
        for (; *a && *b; a++, b++) {
                char x = *a == '_' ? '-' : (char) tolower((unsigned char) *a);
                char y = *b == '_' ? '-' : (char) tolower((unsigned char) *b);

                if (x != y)
                        return false;
        }
        return *a == *b;
}

/* A number (passed on as is; the daemon validates it) or one of the names above. */
int parse_context_type(const char *s, uint32_t *ret) {
        if (!s)
                return -EINVAL;
        if (isdigit((unsigned char) s[0]))
                return parse_u32(s, ret);
        for (size_t i = 0; i < ELEMENTSOF(context_types); i++)
                if (name_eq(s, context_types[i])) {
                        *ret = (uint32_t) i;
                        return 0;
                }
        return -EINVAL;
}

const char *context_type_to_string(uint32_t type) {
        return type < ELEMENTSOF(context_types) ? context_types[type] : NULL;
}

int parse_action(const char *s, uint32_t *ret) {
        if (!s)
                return -EINVAL;
        if (name_eq(s, "permit"))
                *ret = BFE_ACTION_PERMIT;
        else if (name_eq(s, "block"))
                *ret = BFE_ACTION_BLOCK;
        else if (name_eq(s, "callout") || name_eq(s, "callout-terminating"))
                *ret = BFE_ACTION_CALLOUT_TERMINATING;
        else
                return parse_u32(s, ret);
        return 0;
}

const char *action_to_string(uint32_t action) {
        switch (action) {
        case BFE_ACTION_PERMIT:
                return "permit";
        case BFE_ACTION_BLOCK:
                return "block";
        case BFE_ACTION_CALLOUT_TERMINATING:
                return "callout";
        default:
                return NULL;
        }
}

/*
 * "auto"; "R" or "range:R" with R 0–15 (a weight range); "=N" or "explicit:N" (an explicit
 * 64-bit weight). Numbers are decimal or 0x-hex.
 */
int parse_weight(const char *s, BfeWeightKind *ret_kind, uint64_t *ret_value) {
        const char *p;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (strcaseeq(s, "auto")) {
                *ret_kind = BFE_WEIGHT_AUTO;
                *ret_value = 0;
                return 0;
        }

        if (s[0] == '=' || strncasecmp(s, "explicit:", 9) == 0) {
                p = s[0] == '=' ? s + 1 : s + 9;
                r = parse_u64(p, &v);
                if (r < 0)
                        return r;
                *ret_kind = BFE_WEIGHT_EXPLICIT;
                *ret_value = v;
                return 0;
        }

        p = strncasecmp(s, "range:", 6) == 0 ? s + 6 : s;
        r = parse_u64(p, &v);
        if (r < 0)
                return r;
        if (v > 15)
                return -ERANGE;
        *ret_kind = BFE_WEIGHT_RANGE;
        *ret_value = v;
        return 0;
}

char *format_weight(BfeWeightKind kind, uint64_t value) {
        char *s = NULL;
        int n;

        switch (kind) {
        case BFE_WEIGHT_AUTO:
                return strdup("auto");
        case BFE_WEIGHT_RANGE:
                n = asprintf(&s, "range:%llu", (unsigned long long) value);
                break;
        case BFE_WEIGHT_EXPLICIT:
                n = asprintf(&s, "explicit:%llu", (unsigned long long) value);
                break;
        default:
                n = asprintf(&s, "unknown:%llu", (unsigned long long) value);
                break;
        }
        return n < 0 ? NULL : s;
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
                int r;

                if (!eq || (size_t) (eq - p - 1) >= sizeof(num))
                        return -EINVAL;
                memcpy(num, p + 1, eq - p - 1);
                num[eq - p - 1] = 0;
                r = parse_u32(num, &match);
                if (r < 0)
                        return -EINVAL;
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

/* The inverse of parse_condition(). */
char *format_condition(const BfeCondition *c) {
        char *s = NULL;
        int n;

        if (c->match == BFE_MATCH_EQUAL)
                n = asprintf(&s, "%s=%s", c->field, c->value);
        else if (c->match == BFE_MATCH_NOT_EQUAL)
                n = asprintf(&s, "%s!=%s", c->field, c->value);
        else
                n = asprintf(&s, "%s:%u=%s", c->field, c->match, c->value);
        return n < 0 ? NULL : s;
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
        if (parse_u64(s, &id) < 0 || id == 0)
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

/* "0x9 (persistent,clear-action-right)", "0x0". */
char *format_filter_flags(uint32_t flags) {
        static const char *const names[] = {
                "persistent", "boottime", "has-provider-context", "clear-action-right",
                "permit-if-callout-unregistered", "disabled", "indexed",
        };
        char buf[256];
        size_t o;
        bool first = true;

        o = (size_t) snprintf(buf, sizeof(buf), "0x%x", flags);
        if (flags == 0)
                return strdup(buf);
        o += (size_t) snprintf(buf + o, sizeof(buf) - o, " (");
        for (size_t i = 0; i < 32; i++) {
                if (!(flags & (1u << i)))
                        continue;
                if (i < ELEMENTSOF(names))
                        o += (size_t) snprintf(buf + o, sizeof(buf) - o, "%s%s", first ? "" : ",", names[i]);
                else
                        o += (size_t) snprintf(buf + o, sizeof(buf) - o, "%s0x%x", first ? "" : ",", 1u << i);
                first = false;
        }
        snprintf(buf + o, sizeof(buf) - o, ")");
        return strdup(buf);
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
