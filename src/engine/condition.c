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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "macro.h"

int engine_error(EngineError *err, uint32_t code, const char *fmt, ...) {
        va_list ap;

        if (err) {
                err->code = code;
                va_start(ap, fmt);
                vsnprintf(err->message, sizeof(err->message), fmt, ap);
                va_end(ap);
        }
        return wfp_ret(code);
}

/* The fields a layer's schema has (wfp-facts §1.2), of those bfed implements. */
static bool layer_has_field(WfpLayer layer, WfpField field) {
        switch (wfp_layer_info(layer)->kind) {
        case WFP_LAYER_KIND_IKEEXT:
                return field == WFP_FIELD_IP_LOCAL_ADDRESS || field == WFP_FIELD_IP_REMOTE_ADDRESS;
        case WFP_LAYER_KIND_IPSEC:
        case WFP_LAYER_KIND_INBOUND_TRANSPORT:
        case WFP_LAYER_KIND_OUTBOUND_TRANSPORT:
        case WFP_LAYER_KIND_ALE_AUTH_RECV_ACCEPT:
        case WFP_LAYER_KIND_ALE_AUTH_CONNECT:
                return field == WFP_FIELD_IP_PROTOCOL ||
                       field == WFP_FIELD_IP_LOCAL_PORT || field == WFP_FIELD_IP_REMOTE_PORT ||
                       field == WFP_FIELD_IP_LOCAL_ADDRESS || field == WFP_FIELD_IP_REMOTE_ADDRESS;
        case _WFP_LAYER_KIND_MAX:
                break;
        }
        return false;
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

/* "192.0.2.1", "192.0.2.0/24", "2001:db8::/32"; rejects host bits set below the prefix. */
static int parse_address(const char *s, int family, EngineError *err, Condition *c) {
        char buf[INET6_ADDRSTRLEN + 8];
        const char *slash;
        unsigned long plen;
        int af = family == 4 ? AF_INET : AF_INET6;
        unsigned max = family == 4 ? 32 : 128, len = family == 4 ? 4 : 16;

        if (strlen(s) >= sizeof(buf))
                return engine_error(err, FWP_E_TYPE_MISMATCH, "'%s' is not an IPv%d address", s, family);
        strcpy(buf, s);
        slash = strchr(s, '/');
        if (slash)
                buf[slash - s] = 0;

        memset(c->value.address.addr, 0, sizeof(c->value.address.addr));
        if (inet_pton(af, buf, c->value.address.addr) != 1)
                return engine_error(err, FWP_E_TYPE_MISMATCH, "'%s' is not an IPv%d address (the layer is IPv%d)",
                                    s, family, family);

        plen = max;
        if (slash && parse_uint(slash + 1, max, &plen) < 0)
                return engine_error(err, FWP_E_INVALID_NET_MASK, "'%s' has an invalid prefix length (0-%u)", s, max);

        for (unsigned bit = (unsigned) plen; bit < len * 8; bit++)
                if (c->value.address.addr[bit / 8] & (0x80 >> (bit % 8)))
                        return engine_error(err, FWP_E_INVALID_NET_MASK,
                                            "'%s' has address bits set beyond its /%lu prefix", s, plen);

        c->value.address.family = family;
        c->value.address.prefixlen = (uint8_t) plen;
        return 0;
}

/**
 * condition_parse() - check one condition against its layer and parse its value.
 * @layer: the filter's layer
 * @spec: field name or GUID, match type, value text
 * @err: filled on WFP errors
 * @ret: the parsed condition (owns a copy of the text); written only on success
 *
 * Return: 0, wfp_ret(FWP_E_CONDITION_NOT_FOUND / MATCH_TYPE_MISMATCH / TYPE_MISMATCH /
 * INVALID_NET_MASK), or -ENOMEM.
 */
int condition_parse(WfpLayer layer, const ConditionSpec *spec, EngineError *err, Condition *ret) {
        Condition c = {};
        WfpField field;

        if (!spec->field || wfp_field_from_string(spec->field, &field) < 0)
                return engine_error(err, FWP_E_CONDITION_NOT_FOUND, "unknown condition field '%s'",
                                    spec->field ?: "");
        if (!layer_has_field(layer, field))
                return engine_error(err, FWP_E_CONDITION_NOT_FOUND, "layer %s has no condition field %s",
                                    wfp_layer_info(layer)->name, wfp_field_info(field)->name);
        if (spec->match != WFP_MATCH_EQUAL)
                return engine_error(err, FWP_E_MATCH_TYPE_MISMATCH,
                                    "match type %" PRIu32 " is not supported for %s (use 0, equal)",
                                    spec->match, wfp_field_info(field)->name);
        if (!spec->value || !*spec->value)
                return engine_error(err, FWP_E_TYPE_MISMATCH, "condition %s has an empty value",
                                    wfp_field_info(field)->name);

        c.field = field;
        c.match = (WfpMatch) spec->match;

        switch (field) {
        case WFP_FIELD_IP_PROTOCOL:
                if (parse_protocol(spec->value, &c.value.protocol) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH,
                                            "'%s' is not an IP protocol (a name like udp, or 0-255)", spec->value);
                break;
        case WFP_FIELD_IP_LOCAL_PORT:
        case WFP_FIELD_IP_REMOTE_PORT: {
                unsigned long v;

                if (parse_uint(spec->value, 65535, &v) < 0)
                        return engine_error(err, FWP_E_TYPE_MISMATCH, "'%s' is not a port (0-65535)", spec->value);
                c.value.port.lo = c.value.port.hi = (uint16_t) v;
                break;
        }
        case WFP_FIELD_IP_LOCAL_ADDRESS:
        case WFP_FIELD_IP_REMOTE_ADDRESS: {
                int r = parse_address(spec->value, wfp_layer_info(layer)->family, err, &c);
                if (r < 0)
                        return r;
                break;
        }
        case WFP_FIELD_IP_LOCAL_INTERFACE:
        case WFP_FIELD_FLAGS:
        case WFP_FIELD_ALE_USER_ID:
        case WFP_FIELD_BFED_LOCAL_SYSTEM:
        case WFP_FIELD_BFED_LOCALLY_INITIATED:
        case _WFP_FIELD_MAX:
                return engine_error(err, FWP_E_CONDITION_NOT_FOUND, "condition field %s is not supported yet",
                                    wfp_field_info(field)->name);
        }

        c.text = strdup(spec->value);
        if (!c.text)
                return -ENOMEM;
        *ret = c;
        return 0;
}

void condition_done(Condition *c) {
        if (!c)
                return;
        free(c->text);
        c->text = NULL;
}
