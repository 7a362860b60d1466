/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * condition.c — filter conditions: which fields each layer has, parsing the value text
 * ("udp", "500", "192.0.2.0/24", "2001:db8::/32") by the field's type, and the WFP errors
 * for what does not fit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "macro.h"
#include "utf8.h"

static int parse_address_type(WfpField field, const char *text, WfpMatch match, EngineError *err, Condition *c);

int engine_error(EngineError *err, uint32_t code, const char *fmt, ...) {
        va_list ap;

        if (err) {
                err->code = code;
                va_start(ap, fmt);
                vsnprintf(err->message, sizeof(err->message), fmt, ap);
                va_end(ap);
                /* it goes on the bus: neither a cut character nor a caller's stray byte may stay */
                utf8_make_valid(err->message);
        }
        return wfp_ret(code);
}

/* The fields a layer's schema has (doc/design.md §8), of those bfed implements. ALE_USER_ID only
 * at ALE_AUTH_CONNECT: at the input hook the kernel cannot see a UDP socket's owner. The forward
 * layers have addresses by source and destination, no protocol and no ports (WFP's schema).
 * ALE_FLOW_ESTABLISHED's one chain sees both directions: its fields that depend on the direction
 * need a DIRECTION condition too (conditions_check_layer()). */
static bool layer_has_field(WfpLayer layer, WfpField field) {
        WfpLayerKind kind = wfp_layer_info(layer)->kind;
        bool forward = kind == WFP_LAYER_KIND_IPFORWARD;

        switch (field) {
        case WFP_FIELD_IP_LOCAL_ADDRESS:
        case WFP_FIELD_IP_REMOTE_ADDRESS:
                return !forward;
        case WFP_FIELD_IP_PROTOCOL:
        case WFP_FIELD_IP_LOCAL_PORT:
        case WFP_FIELD_IP_REMOTE_PORT:
                return kind != WFP_LAYER_KIND_IKEEXT && !forward;
        case WFP_FIELD_IP_LOCAL_INTERFACE:
        case WFP_FIELD_FLAGS:
                return wfp_layer_is_emitted(layer);
        case WFP_FIELD_IP_LOCAL_ADDRESS_TYPE:
                return wfp_layer_is_emitted(layer) && !forward;
        case WFP_FIELD_DIRECTION:
                return kind == WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED;
        case WFP_FIELD_ALE_USER_ID:
                return kind == WFP_LAYER_KIND_ALE_AUTH_CONNECT;
        case WFP_FIELD_IP_SOURCE_ADDRESS:
        case WFP_FIELD_IP_DESTINATION_ADDRESS:
        case WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE:
        case WFP_FIELD_IP_FORWARD_INTERFACE:
                return forward;
        case WFP_FIELD_BFED_LOCAL_SYSTEM:
        case WFP_FIELD_BFED_LOCALLY_INITIATED:
        case _WFP_FIELD_MAX:
                break;
        }
        return false;
}

/* Why @layer has no @field, when there is more to say than that it has not. */
static const char *field_missing_hint(WfpLayer layer, WfpField field) {
        WfpLayerKind kind = wfp_layer_info(layer)->kind;

        if (field == WFP_FIELD_ALE_USER_ID)
                return " (only ALE_AUTH_CONNECT_V4/V6 can see a UDP socket's owner)";
        if (kind == WFP_LAYER_KIND_IPFORWARD)
                return " (a forward layer has IP_SOURCE_ADDRESS, IP_DESTINATION_ADDRESS, "
                       "IP_DESTINATION_ADDRESS_TYPE, IP_LOCAL_INTERFACE, IP_FORWARD_INTERFACE and FLAGS)";
        if (field == WFP_FIELD_DIRECTION)
                return " (bfed has DIRECTION at ALE_FLOW_ESTABLISHED_V4/V6 only)";
        return "";
}

/* A field whose packet field depends on the direction: local is the destination inbound. */
static bool field_has_direction(WfpField f) {
        return f == WFP_FIELD_IP_LOCAL_ADDRESS || f == WFP_FIELD_IP_REMOTE_ADDRESS || f == WFP_FIELD_IP_LOCAL_PORT ||
               f == WFP_FIELD_IP_REMOTE_PORT || f == WFP_FIELD_IP_LOCAL_INTERFACE || f == WFP_FIELD_FLAGS ||
               f == WFP_FIELD_IP_LOCAL_ADDRESS_TYPE;
}

/**
 * conditions_check_layer() - what a filter's conditions must have together at its layer.
 *
 * ALE_FLOW_ESTABLISHED has one chain for both directions, so a condition that reads the packet
 * by direction (local or remote address, port, interface, FLAGS, address type) needs the
 * filter to say which: one DIRECTION condition. Two are DuplicateCondition (WFP would OR or AND
 * them; bfed keeps one direction per filter).
 *
 * Return: 0, wfp_ret(FWP_E_CONDITION_NOT_FOUND / DUPLICATE_CONDITION).
 */
int conditions_check_layer(WfpLayer layer, const Condition *c, size_t n, EngineError *err) {
        const char *needs = NULL;
        size_t directions = 0;

        if (wfp_layer_info(layer)->kind != WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED)
                return 0;
        for (size_t i = 0; i < n; i++) {
                if (c[i].field == WFP_FIELD_DIRECTION)
                        directions++;
                else if (!needs && field_has_direction(c[i].field))
                        needs = wfp_field_info(c[i].field)->name;
        }
        if (directions > 1)
                return engine_error(err, FWP_E_DUPLICATE_CONDITION,
                                    "layer %s: one DIRECTION condition at most (bfed compiles a filter for one "
                                    "direction or both)", wfp_layer_info(layer)->name);
        if (needs && directions == 0)
                return engine_error(err, FWP_E_CONDITION_NOT_FOUND,
                                    "layer %s has condition field %s only with a DIRECTION condition (inbound or "
                                    "outbound): it sees both directions in one chain", wfp_layer_info(layer)->name,
                                    needs);
        return 0;
}

/* FWP_DIRECTION: outbound (0) or inbound (1), by name (any case, with or without FWP_DIRECTION_)
 * or number. */
static int parse_direction(const char *s, uint8_t *ret) {
        if (strncasecmp(s, "FWP_DIRECTION_", 14) == 0)
                s += 14;
        if (strcaseeq(s, "outbound") || streq(s, "0"))
                *ret = 0;
        else if (strcaseeq(s, "inbound") || streq(s, "1"))
                *ret = 1;
        else
                return -EINVAL;
        return 0;
}

/* Whether @f reads the packet as it comes in: its layer's way, or at ALE_FLOW_ESTABLISHED its
 * DIRECTION condition's. */
bool filter_is_inbound(const Filter *f) {
        if (wfp_layer_info(f->layer)->kind != WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED)
                return wfp_layer_is_inbound(f->layer);
        for (size_t i = 0; i < f->n_conditions; i++)
                if (f->conditions[i].field == WFP_FIELD_DIRECTION)
                        return f->conditions[i].lo[0] == 1;
        return false;
}

bool condition_field_is_ordered(WfpField f) {
        return f == WFP_FIELD_IP_PROTOCOL || f == WFP_FIELD_IP_LOCAL_PORT || f == WFP_FIELD_IP_REMOTE_PORT ||
               condition_field_is_address(f);
}

bool condition_field_is_address(WfpField f) {
        return f == WFP_FIELD_IP_LOCAL_ADDRESS || f == WFP_FIELD_IP_REMOTE_ADDRESS ||
               f == WFP_FIELD_IP_SOURCE_ADDRESS || f == WFP_FIELD_IP_DESTINATION_ADDRESS;
}

bool condition_is_single(const Condition *c) {
        return memcmp(c->lo, c->hi, c->len) == 0;
}

int condition_prefix_len(const Condition *c) {
        unsigned i = 0, plen;

        /* lo and hi agree on the first plen bits; after that lo is all 0 and hi all 1. A byte at a
         * time: the compiler asks this of every address condition, several times a filter. */
        while (i < c->len && c->lo[i] == c->hi[i])
                i++;
        plen = i * 8u;
        if (i < c->len) {
                unsigned same = (unsigned) __builtin_clz((unsigned) (c->lo[i] ^ c->hi[i])) - 24;
                uint8_t tail = (uint8_t) (0xff >> same);

                if ((c->lo[i] & tail) != 0 || (c->hi[i] & tail) != tail)
                        return -1;
                plen += same;
                for (i++; i < c->len; i++)
                        if (c->lo[i] != 0 || c->hi[i] != 0xff)
                                return -1;
        }
        return (int) plen;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret) {
        unsigned long v;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 0);
        if (errno != 0 || *end || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_protocol(const char *s, uint8_t *ret) {
        static const struct {
                const char *name;
                uint8_t number;
        } names[] = {
                { "icmp", 1 }, { "igmp", 2 }, { "tcp", 6 }, { "udp", 17 }, { "gre", 47 },
                { "esp", 50 }, { "ah", 51 }, { "icmpv6", 58 }, { "ipv6-icmp", 58 },
                { "sctp", 132 }, { "udplite", 136 },
        };
        unsigned long v;

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcaseeq(s, names[i].name)) {
                        *ret = names[i].number;
                        return 0;
                }
        if (parse_uint(s, 255, &v) < 0)
                return -EINVAL;
        *ret = (uint8_t) v;
        return 0;
}

/* One value of an ordered field, big-endian into out[len]. */
static int parse_scalar(WfpField field, int family, const char *s, uint8_t *out, uint8_t *ret_len) {
        unsigned long v;

        switch (field) {
        case WFP_FIELD_IP_PROTOCOL:
                *ret_len = 1;
                return parse_protocol(s, out);
        case WFP_FIELD_IP_LOCAL_PORT:
        case WFP_FIELD_IP_REMOTE_PORT:
                if (parse_uint(s, 65535, &v) < 0)
                        return -EINVAL;
                out[0] = (uint8_t) (v >> 8);
                out[1] = (uint8_t) v;
                *ret_len = 2;
                return 0;
        default:
                *ret_len = family == 4 ? 4 : 16;
                return inet_pton(family == 4 ? AF_INET : AF_INET6, s, out) == 1 ? 0 : -EINVAL;
        }
}

static const char *field_type(WfpField field, int family) {
        switch (field) {
        case WFP_FIELD_IP_PROTOCOL:
                return "an IP protocol (a name like udp, or 0-255)";
        case WFP_FIELD_IP_LOCAL_PORT:
        case WFP_FIELD_IP_REMOTE_PORT:
                return "a port (0-65535)";
        default:
                return family == 4 ? "an IPv4 address (the layer is IPv4)" : "an IPv6 address (the layer is IPv6)";
        }
}

/* Adds (delta = +1) or subtracts one, big-endian; returns false on wrap-around. */
static bool step(uint8_t *v, uint8_t len, int delta) {
        for (int i = len - 1; i >= 0; i--) {
                if (delta > 0 ? v[i]++ != 0xFF : v[i]-- != 0x00)
                        return true;
        }
        return false;
}

static int parse_ordered(WfpLayer layer, WfpField field, WfpMatch match, const char *text, EngineError *err,
                         Condition *c) {
        int family = wfp_layer_info(layer)->family;
        char buf[128];
        const char *name = wfp_field_info(field)->name;
        bool address = condition_field_is_address(field);
        char *sep;
        uint8_t len;

        if (strlen(text) >= sizeof(buf))
                return engine_error(err, FWP_E_TYPE_MISMATCH, "%s value '%.40s…' is too long", name, text);
        strcpy(buf, text);

        switch (match) {
        case WFP_MATCH_RANGE:
                /* "a-b"; an IPv6 address has no '-', so the first '-' separates */
                sep = strchr(buf, '-');
                if (!sep)
                        return engine_error(err, FWP_E_INVALID_RANGE, "%s range '%s' is not FROM-TO", name, text);
                *sep = 0;
                if (parse_scalar(field, family, buf, c->lo, &len) < 0 ||
                    parse_scalar(field, family, sep + 1, c->hi, &c->len) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "%s range '%s': not %s", name, text,
                                            field_type(field, family));
                if (memcmp(c->lo, c->hi, c->len) > 0)
                        return engine_error(err, FWP_E_INVALID_RANGE, "%s range '%s' ends before it starts", name, text);
                return 0;

        case WFP_MATCH_EQUAL:
        case WFP_MATCH_NOT_EQUAL: {
                unsigned long plen;

                sep = address ? strchr(buf, '/') : NULL;
                if (sep)
                        *sep = 0;
                if (strchr(buf, '-'))
                        return engine_error(err, FWP_E_MATCH_TYPE_MISMATCH,
                                            "%s value '%s' is a range: use match type 5 (range)", name, text);
                if (parse_scalar(field, family, buf, c->lo, &c->len) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "%s value '%s' is not %s", name, text,
                                            field_type(field, family));
                memcpy(c->hi, c->lo, c->len);
                if (!sep)
                        return 0;
                if (parse_uint(sep + 1, c->len * 8u, &plen) < 0)
                        return engine_error(err, FWP_E_INVALID_NET_MASK, "'%s' has an invalid prefix length (0-%u)",
                                            text, c->len * 8u);
                for (unsigned b = (unsigned) plen; b < c->len * 8u; b++) {
                        if (c->lo[b / 8] & (0x80 >> (b % 8)))
                                return engine_error(err, FWP_E_INVALID_NET_MASK,
                                                    "'%s' has address bits set beyond its /%lu prefix", text, plen);
                        c->hi[b / 8] |= (uint8_t) (0x80 >> (b % 8));
                }
                return 0;
        }

        case WFP_MATCH_GREATER:
        case WFP_MATCH_GREATER_OR_EQUAL:
        case WFP_MATCH_LESS:
        case WFP_MATCH_LESS_OR_EQUAL: {
                bool greater = match == WFP_MATCH_GREATER || match == WFP_MATCH_GREATER_OR_EQUAL;
                bool strict = match == WFP_MATCH_GREATER || match == WFP_MATCH_LESS;
                uint8_t v[CONDITION_VALUE_MAX];

                if (parse_scalar(field, family, buf, v, &c->len) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "%s value '%s' is not %s", name, text,
                                            field_type(field, family));
                if (strict && !step(v, c->len, greater ? +1 : -1))
                        return engine_error(err, FWP_E_OUT_OF_BOUNDS, "nothing is %s %s %s", name,
                                            greater ? "greater than" : "less than", text);
                memcpy(greater ? c->lo : c->hi, v, c->len);
                memset(greater ? c->hi : c->lo, greater ? 0xFF : 0x00, c->len);
                return 0;
        }
        default:
                return engine_error(err, FWP_E_MATCH_TYPE_MISMATCH, "match type %d does not apply to %s", match, name);
        }
}

static int parse_flags(const char *text, uint32_t *ret) {
        _cleanup_(freep) char *copy = strdup(text);
        uint32_t flags = 0;
        unsigned long v;

        if (!copy)
                return -ENOMEM;
        for (char *tok = strtok(copy, ", |"); tok; tok = strtok(NULL, ", |")) {
                if (strcaseeq(tok, "loopback") || strcaseeq(tok, "is_loopback"))
                        flags |= WFP_CONDITION_FLAG_IS_LOOPBACK;
                else if (strcaseeq(tok, "ipsec-secured") || strcaseeq(tok, "ipsec") ||
                         strcaseeq(tok, "is_ipsec_secured"))
                        flags |= WFP_CONDITION_FLAG_IS_IPSEC_SECURED;
                else if (parse_uint(tok, WFP_CONDITION_FLAG_IS_LOOPBACK | WFP_CONDITION_FLAG_IS_IPSEC_SECURED, &v) >= 0)
                        flags |= (uint32_t) v;
                else
                        return -EINVAL;
        }
        if (flags == 0)
                return -EINVAL;
        *ret = flags;
        return 0;
}

/*
 * An interface name the kernel can have (IFNAMSIZ, no '/' and no white space) and nft can
 * list: nft prints it between double quotes exactly as it is, so a '"' would end the string
 * early and make `nft list ruleset` unreadable to `nft -f`, and a control character would
 * break the listing's line. Linux allows both in a name, but no interface needs them.
 */
static bool interface_name_is_valid(const char *s) {
        if (strlen(s) >= CONDITION_VALUE_MAX)
                return false;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p == '/' || *p == '"' || *p == ' ' || *p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

static int parse_uid(const char *text, uint32_t *ret) {
        unsigned long v;
        struct passwd *pw;

        if (parse_uint(text, UINT32_MAX - 1, &v) >= 0) {
                *ret = (uint32_t) v;
                return 0;
        }
        pw = getpwnam(text);
        if (!pw)
                return -ENOENT;
        *ret = pw->pw_uid;
        return 0;
}

/**
 * condition_parse() - check one condition against its layer and parse its value.
 * @layer: the filter's layer
 * @spec: field name or GUID, match type, value text
 * @err: filled on WFP errors
 * @ret: the parsed condition (owns a copy of the text if it keeps one); written only on success
 *
 * Return: 0, wfp_ret(FWP_E_CONDITION_NOT_FOUND / MATCH_TYPE_MISMATCH / TYPE_MISMATCH /
 * INVALID_NET_MASK / INVALID_RANGE / OUT_OF_BOUNDS / INVALID_PARAMETER for text that is not
 * valid UTF-8), or -ENOMEM.
 */
int condition_parse(WfpLayer layer, const ConditionSpec *spec, EngineError *err, Condition *ret) {
        Condition c = {};
        WfpField field;
        WfpMatch match = (WfpMatch) spec->match;
        const char *name;
        int r;

        if (!spec->field || wfp_field_from_string(spec->field, &field) < 0)
                return engine_error(err, FWP_E_CONDITION_NOT_FOUND, "unknown condition field '%s'",
                                    spec->field ?: "");
        name = wfp_field_info(field)->name;
        if (!layer_has_field(layer, field))
                return engine_error(err, FWP_E_CONDITION_NOT_FOUND, "layer %s has no condition field %s%s",
                                    wfp_layer_info(layer)->name, name, field_missing_hint(layer, field));
        if (!spec->value || !*spec->value)
                return engine_error(err, FWP_E_TYPE_MISMATCH, "condition %s has an empty value", name);
        /* the text is enumerated on the bus, which takes valid UTF-8 only */
        if (!utf8_is_valid(spec->value))
                return engine_error(err, FWP_E_INVALID_PARAMETER, "condition %s value: bad Unicode (not valid UTF-8)",
                                    name);
        if (spec->match >= _WFP_MATCH_MAX)
                return engine_error(err, FWP_E_INVALID_ENUMERATOR, "match type %" PRIu32 " is not valid", spec->match);

        c.field = field;
        c.match = match;

        if (condition_field_is_ordered(field)) {
                r = parse_ordered(layer, field, match, spec->value, err, &c);
                if (r < 0)
                        return r;
                c.negate = match == WFP_MATCH_NOT_EQUAL;
        } else if (field == WFP_FIELD_DIRECTION) {
                if (match != WFP_MATCH_EQUAL)
                        return engine_error(err, FWP_E_MATCH_TYPE_MISMATCH,
                                            "DIRECTION takes match type 0 (equal), not %d", match);
                if (parse_direction(spec->value, &c.lo[0]) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH,
                                            "'%s' is not an FWP_DIRECTION (outbound or 0, inbound or 1)", spec->value);
                c.len = 1;
                c.hi[0] = c.lo[0];
        } else if (field == WFP_FIELD_IP_LOCAL_ADDRESS_TYPE || field == WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE) {
                r = parse_address_type(field, spec->value, match, err, &c);
                if (r < 0)
                        return r;
        } else if (field == WFP_FIELD_IP_LOCAL_INTERFACE || field == WFP_FIELD_IP_FORWARD_INTERFACE ||
                   field == WFP_FIELD_ALE_USER_ID) {
                if (match != WFP_MATCH_EQUAL && match != WFP_MATCH_NOT_EQUAL)
                        return engine_error(err, FWP_E_MATCH_TYPE_MISMATCH,
                                            "%s takes match type 0 (equal) or 10 (not equal), not %d", name, match);
                c.negate = match == WFP_MATCH_NOT_EQUAL;
                if (field != WFP_FIELD_ALE_USER_ID) {
                        if (!interface_name_is_valid(spec->value))
                                return engine_error(err, FWP_E_TYPE_MISMATCH,
                                                    "'%s' is not an interface name (at most %d bytes, without '/', "
                                                    "'\"', spaces or control characters)",
                                                    spec->value, CONDITION_VALUE_MAX - 1);
                        c.len = CONDITION_VALUE_MAX; /* IFNAMSIZ, NUL-padded, as the kernel compares it */
                        memcpy(c.lo, spec->value, strlen(spec->value)); /* the rest stays 0 */
                } else {
                        uint32_t uid;
                        if (parse_uid(spec->value, &uid) < 0)
                                return engine_error(err, FWP_E_TYPE_MISMATCH, "'%s' is not a uid or a user name",
                                                    spec->value);
                        c.len = sizeof(uid);
                        memcpy(c.lo, &uid, sizeof(uid));
                }
                memcpy(c.hi, c.lo, c.len);
        } else { /* FLAGS */
                uint32_t flags;

                if (match != WFP_MATCH_FLAGS_ALL_SET && match != WFP_MATCH_FLAGS_ANY_SET &&
                    match != WFP_MATCH_FLAGS_NONE_SET)
                        return engine_error(err, FWP_E_MATCH_TYPE_MISMATCH,
                                            "FLAGS takes match type 6 (all set), 7 (any set) or 8 (none set), not %d",
                                            match);
                if (parse_flags(spec->value, &flags) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH,
                                            "'%s' is not a FLAGS value (loopback, ipsec-secured, 0x1, 0x2)", spec->value);
                c.flags = (uint8_t) flags; /* parse_flags() takes the two flag bits only */
                c.negate = match == WFP_MATCH_FLAGS_NONE_SET;
        }

        r = condition_keep_text(&c, spec->value);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

/* Consecutive conditions on one field are ORed (negations among them too: the compiler turns the
 * run into "not in" the values it excludes, conditions_or_excluded()); consecutive FLAGS
 * conditions are not. */
int conditions_check_groups(const Condition *c, size_t n, EngineError *err) {
        for (size_t i = 0; i < n;) {
                size_t j = i + 1;

                while (j < n && c[j].field == c[i].field)
                        j++;
                for (size_t k = i; j - i > 1 && k < j; k++) {
                        if (c[k].field == WFP_FIELD_FLAGS)
                                return engine_error(err, FWP_E_MATCH_TYPE_MISMATCH,
                                                    "consecutive FLAGS conditions cannot be ORed; put another "
                                                    "condition between them");
                }
                i = j;
        }
        return 0;
}

/* @v - 1 and @v + 1, big-endian over @len bytes; false when it wrapped around. */
static bool step_down(uint8_t *v, size_t len) {
        for (size_t i = len; i-- > 0;)
                if (v[i]-- != 0)
                        return true;
        return false;
}

static bool step_up(uint8_t *v, size_t len) {
        for (size_t i = len; i-- > 0;)
                if (++v[i] != 0)
                        return true;
        return false;
}

static int compare_cond_lo(const void *a, const void *b) {
        const Condition *x = *(const Condition *const *) a, *y = *(const Condition *const *) b;

        return memcmp(x->lo, y->lo, x->len);
}

/*
 * IP_LOCAL_ADDRESS_TYPE: an NL_ADDRESS_TYPE, by number (1-4) or name, kept as the kernel's route
 * type of the local address (RTN_*, a host-order u32), which is what `fib daddr type` (inbound)
 * and `fib saddr type` (outbound) give: the host's own unicast address is RTN_LOCAL.
 * IP_DESTINATION_ADDRESS_TYPE (the forward layers): the route type of the destination, which
 * for a unicast address this host routes on is RTN_UNICAST (`fib daddr type` at the forward hook:
 * an address of this host's own never gets there).
 * NlatUnspecified (0) and NlatInvalid (5) have no route type: OutOfBounds.
 */
static int parse_nl_address_type(const char *s, bool local, uint32_t *ret) {
        static const struct {
                const char *name;
                uint32_t rtn;
        } types[] = {
                [1] = { "unicast", 2 /* RTN_LOCAL */ },
                [2] = { "anycast", 4 /* RTN_ANYCAST */ },
                [3] = { "multicast", 5 /* RTN_MULTICAST */ },
                [4] = { "broadcast", 3 /* RTN_BROADCAST */ },
        };
        unsigned long v;
        char *end;
        size_t i;

        for (i = 1; i < ELEMENTSOF(types); i++)
                if (strcaseeq(s, types[i].name) || (strncasecmp(s, "Nlat", 4) == 0 && strcaseeq(s + 4, types[i].name)))
                        break;
        if (i == ELEMENTSOF(types)) {
                errno = 0;
                v = strtoul(s, &end, 0);
                if (errno || end == s || *end)
                        return -EINVAL;
                if (v < 1 || v >= ELEMENTSOF(types))
                        return -ERANGE;
                i = v;
        }
        *ret = i == 1 && !local ? 1 /* RTN_UNICAST */ : types[i].rtn;
        return 0;
}

int address_type_parse(const char *s, uint32_t *ret) {
        return parse_nl_address_type(s, true, ret);
}

int destination_address_type_parse(const char *s, uint32_t *ret) {
        return parse_nl_address_type(s, false, ret);
}

static int parse_address_type(WfpField field, const char *text, WfpMatch match, EngineError *err, Condition *c) {
        const char *name = wfp_field_info(field)->name;
        uint32_t rtn;
        int r;

        if (match != WFP_MATCH_EQUAL && match != WFP_MATCH_NOT_EQUAL)
                return engine_error(err, FWP_E_MATCH_TYPE_MISMATCH,
                                    "%s takes match type 0 (equal) or 10 (not equal), not %d", name, match);
        r = parse_nl_address_type(text, field == WFP_FIELD_IP_LOCAL_ADDRESS_TYPE, &rtn);
        if (r == -ERANGE)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "%s '%s': bfed has the types 1 unicast, "
                                    "2 anycast, 3 multicast, 4 broadcast", name, text);
        if (r < 0)
                return engine_error(err, FWP_E_TYPE_MISMATCH, "'%s' is not an NL_ADDRESS_TYPE (unicast, anycast, "
                                    "multicast, broadcast or 1-4)", text);
        c->negate = match == WFP_MATCH_NOT_EQUAL;
        c->len = sizeof(rtn);
        memcpy(c->lo, &rtn, sizeof(rtn));
        memcpy(c->hi, &rtn, sizeof(rtn));
        return 0;
}

/**
 * conditions_or_excluded() - the values an ORed run of conditions with a negation does not match.
 * @c: the run: @n conditions on one field, at least one negated
 * @ret: room for @n + 1 conditions; gets the excluded values as sorted, disjoint intervals
 *       (only len, lo and hi set)
 *
 * The run matches a value that a positive member matches or a negated member does not exclude,
 * so it fails exactly on the values every negated member excludes and no positive member
 * matches: the intersection of the negated members' intervals (one interval, or none) less the
 * union of the positive ones'. The compiler matches "not in" these; none means the run matches
 * every value of the field.
 *
 * Return: how many intervals @ret holds.
 */
size_t conditions_or_excluded(const Condition *c, size_t n, Condition *ret) {
        const Condition *pos[ENGINE_CONDITIONS_MAX];
        uint8_t lo[CONDITION_VALUE_MAX], hi[CONDITION_VALUE_MAX];
        size_t len = c[0].len, n_pos = 0, k = 0;
        bool any = false;

        for (size_t i = 0; i < n && i < ENGINE_CONDITIONS_MAX; i++) {
                if (!c[i].negate) {
                        pos[n_pos++] = &c[i];
                        continue;
                }
                if (!any || memcmp(c[i].lo, lo, len) > 0)
                        memcpy(lo, c[i].lo, len);
                if (!any || memcmp(c[i].hi, hi, len) < 0)
                        memcpy(hi, c[i].hi, len);
                any = true;
        }
        if (!any || memcmp(lo, hi, len) > 0)
                return 0;
        qsort(pos, n_pos, sizeof(*pos), compare_cond_lo);
        for (size_t i = 0; i < n_pos; i++) {
                if (memcmp(pos[i]->hi, lo, len) < 0)
                        continue;               /* wholly below what is left */
                if (memcmp(pos[i]->lo, hi, len) > 0)
                        break;                  /* wholly above it, as are the rest */
                if (memcmp(pos[i]->lo, lo, len) > 0) {
                        ret[k] = (Condition) { .len = (uint8_t) len };
                        memcpy(ret[k].lo, lo, len);
                        memcpy(ret[k].hi, pos[i]->lo, len);
                        (void) step_down(ret[k].hi, len); /* lo < pos->lo: cannot wrap */
                        k++;
                }
                if (memcmp(pos[i]->hi, lo, len) >= 0) {
                        memcpy(lo, pos[i]->hi, len);
                        if (!step_up(lo, len) || memcmp(lo, hi, len) > 0)
                                return k;       /* nothing is left */
                }
        }
        ret[k] = (Condition) { .len = (uint8_t) len };
        memcpy(ret[k].lo, lo, len);
        memcpy(ret[k].hi, hi, len);
        return k + 1;
}

void condition_done(Condition *c) {
        if (!c)
                return;
        free(c->text);
        c->text = NULL;
}

static int parse_bool(const char *s, bool *ret) {
        if (strcaseeq(s, "true") || strcaseeq(s, "yes") || streq(s, "1")) {
                *ret = true;
                return 0;
        }
        if (strcaseeq(s, "false") || strcaseeq(s, "no") || streq(s, "0")) {
                *ret = false;
                return 0;
        }
        return -EINVAL;
}

/**
 * packet_set() - one field of a packet to explain, from text.
 *
 * Return: 0; -ENOENT for an unknown field name (the caller says InvalidArgs); a WFP
 * TYPE_MISMATCH for a value that does not parse.
 */
int packet_set(Packet *p, WfpLayer layer, const char *field, const char *value, EngineError *err) {
        int family = wfp_layer_info(layer)->family;
        WfpField f;

        if (streq(field, "BFED_LOCAL_SYSTEM") || streq(field, "BFED_LOCALLY_INITIATED")) {
                bool *b = streq(field, "BFED_LOCAL_SYSTEM") ? &p->local_system : &p->locally_initiated;
                if (parse_bool(value, b) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "%s is true or false, not '%s'", field, value);
                return 0;
        }
        if (wfp_field_from_string(field, &f) < 0)
                return -ENOENT;

        switch (f) {
        case WFP_FIELD_FLAGS: {
                uint32_t flags = 0;
                if (*value && parse_flags(value, &flags) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH,
                                            "'%s' is not a FLAGS value (loopback, ipsec-secured)", value);
                p->flags = flags;
                return 0;
        }
        case WFP_FIELD_IP_LOCAL_INTERFACE:
        case WFP_FIELD_IP_FORWARD_INTERFACE:
                if (strlen(value) >= CONDITION_VALUE_MAX)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "'%s' is not an interface name", value);
                memset(p->value[f], 0, CONDITION_VALUE_MAX);
                memcpy(p->value[f], value, strlen(value));
                p->len[f] = CONDITION_VALUE_MAX;
                break;
        case WFP_FIELD_IP_LOCAL_ADDRESS_TYPE:
        case WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE: {
                uint32_t rtn;
                if (parse_nl_address_type(value, f == WFP_FIELD_IP_LOCAL_ADDRESS_TYPE, &rtn) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "'%s' is not an NL_ADDRESS_TYPE (unicast, "
                                            "anycast, multicast, broadcast or 1-4)", value);
                memcpy(p->value[f], &rtn, sizeof(rtn));
                p->len[f] = sizeof(rtn);
                break;
        }
        case WFP_FIELD_DIRECTION:
                if (parse_direction(value, &p->value[f][0]) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "'%s' is not an FWP_DIRECTION (outbound, "
                                            "inbound, 0 or 1)", value);
                p->len[f] = 1;
                break;
        case WFP_FIELD_ALE_USER_ID: {
                uint32_t uid;
                if (parse_uid(value, &uid) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "'%s' is not a uid or a user name", value);
                memcpy(p->value[f], &uid, sizeof(uid));
                p->len[f] = sizeof(uid);
                break;
        }
        case WFP_FIELD_IP_PROTOCOL:
        case WFP_FIELD_IP_LOCAL_PORT:
        case WFP_FIELD_IP_REMOTE_PORT:
        case WFP_FIELD_IP_LOCAL_ADDRESS:
        case WFP_FIELD_IP_REMOTE_ADDRESS:
        case WFP_FIELD_IP_SOURCE_ADDRESS:
        case WFP_FIELD_IP_DESTINATION_ADDRESS:
                if (parse_scalar(f, family, value, p->value[f], &p->len[f]) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "%s value '%s' is not %s", field, value,
                                            field_type(f, family));
                break;
        case WFP_FIELD_BFED_LOCAL_SYSTEM:
        case WFP_FIELD_BFED_LOCALLY_INITIATED:
        case _WFP_FIELD_MAX:
                return -ENOENT;
        }
        p->has[f] = true;
        return 0;
}
