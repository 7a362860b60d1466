/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * condition-text.c — a condition's value as text, for enumeration and the state file: the text
 * as the caller gave it, always. Most callers give a value in the form bfed would write it
 * ("udp", "500", "10.0.0.1", "192.0.2.0/24", "7000-7010"), so a condition keeps its own copy of
 * the text only when rendering the parsed value (in the form the condition remembers) does not
 * give back exactly that text: at 100,000 filters of three conditions that is 300,000 strings
 * the heap need not hold (issue 12, P5).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "macro.h"
#include "string-util.h"

/* The forms a value can be written in: a number, or a name ("udp", "inbound", "unicast",
 * "loopback"). */
enum {
        FORM_NUMBER,
        FORM_NAME,
        _FORM_MAX,
};

static const char *protocol_name(uint8_t p) {
        /* the first of condition.c's names for each number */
        switch (p) {
        case 1:   return "icmp";
        case 2:   return "igmp";
        case 6:   return "tcp";
        case 17:  return "udp";
        case 47:  return "gre";
        case 50:  return "esp";
        case 51:  return "ah";
        case 58:  return "icmpv6";
        case 132: return "sctp";
        case 136: return "udplite";
        default:  return NULL;
        }
}

/* One value of an ordered field (big-endian, c->len bytes) into @buf (INET6_ADDRSTRLEN bytes at
 * least); false when @form has none. */
static bool render_scalar(const Condition *c, const uint8_t *v, unsigned form, char *buf, size_t size) {
        switch (c->field) {
        case WFP_FIELD_IP_PROTOCOL: {
                const char *name = protocol_name(v[0]);

                if (form == FORM_NAME) {
                        if (!name)
                                return false;
                        strcpy(buf, name);
                } else
                        (void) decimal_u64(v[0], buf);
                return true;
        }
        case WFP_FIELD_IP_LOCAL_PORT:
        case WFP_FIELD_IP_REMOTE_PORT:
                if (form != FORM_NUMBER)
                        return false;
                (void) decimal_u64((unsigned) v[0] << 8 | v[1], buf);
                return true;
        default:
                if (form != FORM_NUMBER)
                        return false;
                if (c->len == 4) {      /* what inet_ntop() writes, without its sprintf() per address */
                        size_t n = 0;

                        for (unsigned i = 0; i < 4; i++) {
                                n += decimal_u64(v[i], buf + n);
                                buf[n++] = i < 3 ? '.' : 0;
                        }
                        return true;
                }
                return inet_ntop(AF_INET6, v, buf, (socklen_t) size) != NULL;
        }
}

static bool render_ordered(const Condition *c, unsigned form, char *buf) {
        char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], *p;
        uint8_t v[CONDITION_VALUE_MAX];
        int plen;

        switch ((WfpMatch) c->match) {
        case WFP_MATCH_EQUAL:
        case WFP_MATCH_NOT_EQUAL:
                if (condition_is_single(c))
                        return render_scalar(c, c->lo, form, buf, CONDITION_TEXT_MAX);
                plen = condition_prefix_len(c);
                if (plen < 0 || !condition_field_is_address(c->field) ||
                    !render_scalar(c, c->lo, form, buf, CONDITION_TEXT_MAX))
                        return false;
                p = strchr(buf, 0);
                *p++ = '/';
                (void) decimal_u64((unsigned) plen, p);
                return true;
        case WFP_MATCH_RANGE:
                if (!render_scalar(c, c->lo, form, a, sizeof(a)) || !render_scalar(c, c->hi, form, b, sizeof(b)))
                        return false;
                p = stpcpy(buf, a);
                *p++ = '-';
                strcpy(p, b);
                return true;
        case WFP_MATCH_GREATER:
        case WFP_MATCH_GREATER_OR_EQUAL:
        case WFP_MATCH_LESS:
        case WFP_MATCH_LESS_OR_EQUAL: {
                bool greater = c->match == WFP_MATCH_GREATER || c->match == WFP_MATCH_GREATER_OR_EQUAL;

                /* the value given: the interval's open end, one step outside it when strict */
                memcpy(v, greater ? c->lo : c->hi, c->len);
                for (int i = c->len - 1; c->match == WFP_MATCH_GREATER && i >= 0; i--)
                        if (v[i]-- != 0x00)
                                break;
                for (int i = c->len - 1; c->match == WFP_MATCH_LESS && i >= 0; i--)
                        if (v[i]++ != 0xFF)
                                break;
                return render_scalar(c, v, form, buf, CONDITION_TEXT_MAX);
        }
        default:
                return false;
        }
}

/* An NL_ADDRESS_TYPE back from the route type condition.c keeps (parse_nl_address_type()). */
static bool render_address_type(const Condition *c, unsigned form, char *buf) {
        static const char *const names[] = { NULL, "unicast", "anycast", "multicast", "broadcast" };
        uint32_t rtn;
        unsigned t;

        memcpy(&rtn, c->lo, sizeof(rtn));
        switch (rtn) {
        case 1: /* RTN_UNICAST: a destination's unicast */
                if (c->field != WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE)
                        return false;
                t = 1;
                break;
        case 2: /* RTN_LOCAL: the local address's unicast */
                if (c->field != WFP_FIELD_IP_LOCAL_ADDRESS_TYPE)
                        return false;
                t = 1;
                break;
        case 4: t = 2; break;
        case 5: t = 3; break;
        case 3: t = 4; break;
        default:
                return false;
        }
        if (form == FORM_NAME)
                snprintf(buf, CONDITION_TEXT_MAX, "%s", names[t]);
        else
                snprintf(buf, CONDITION_TEXT_MAX, "%u", t);
        return true;
}

static bool render_flags(uint32_t flags, unsigned form, char *buf) {
        if (form == FORM_NUMBER) {
                snprintf(buf, CONDITION_TEXT_MAX, "0x%" PRIx32, flags);
                return true;
        }
        if ((flags & ~(WFP_CONDITION_FLAG_IS_LOOPBACK | WFP_CONDITION_FLAG_IS_IPSEC_SECURED)) != 0 || flags == 0)
                return false;
        snprintf(buf, CONDITION_TEXT_MAX, "%s%s%s", flags & WFP_CONDITION_FLAG_IS_LOOPBACK ? "loopback" : "",
                 flags == (WFP_CONDITION_FLAG_IS_LOOPBACK | WFP_CONDITION_FLAG_IS_IPSEC_SECURED) ? "," : "",
                 flags & WFP_CONDITION_FLAG_IS_IPSEC_SECURED ? "ipsec-secured" : "");
        return true;
}

/* The parsed value of @c written in @form, into @buf; false when it has no such form. */
static bool render(const Condition *c, unsigned form, char buf[static CONDITION_TEXT_MAX]) {
        uint32_t u;

        if (condition_field_is_ordered(c->field))
                return render_ordered(c, form, buf);
        switch (c->field) {
        case WFP_FIELD_DIRECTION:
                if (c->lo[0] > 1)
                        return false;
                if (form == FORM_NAME)
                        snprintf(buf, CONDITION_TEXT_MAX, "%s", c->lo[0] ? "inbound" : "outbound");
                else
                        snprintf(buf, CONDITION_TEXT_MAX, "%u", c->lo[0]);
                return true;
        case WFP_FIELD_IP_LOCAL_ADDRESS_TYPE:
        case WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE:
                return render_address_type(c, form, buf);
        case WFP_FIELD_IP_LOCAL_INTERFACE:
        case WFP_FIELD_IP_FORWARD_INTERFACE:
                if (form != FORM_NUMBER)
                        return false;
                snprintf(buf, CONDITION_TEXT_MAX, "%.*s", CONDITION_VALUE_MAX, (const char *) c->lo);
                return true;
        case WFP_FIELD_ALE_USER_ID:
                if (form != FORM_NUMBER)
                        return false;
                memcpy(&u, c->lo, sizeof(u));
                snprintf(buf, CONDITION_TEXT_MAX, "%" PRIu32, u);
                return true;
        case WFP_FIELD_FLAGS:
                return render_flags(c->flags, form, buf);
        default:
                return false;
        }
}

int condition_keep_text(Condition *c, const char *text) {
        char buf[CONDITION_TEXT_MAX];
        char *t;

        for (unsigned form = 0; form < _FORM_MAX; form++)
                if (render(c, form, buf) && streq(buf, text)) {
                        free(c->text);
                        c->text = NULL;
                        c->form = (uint8_t) form;
                        return 0;
                }
        t = strdup(text);
        if (!t)
                return -ENOMEM;
        free(c->text);
        c->text = t;
        return 0;
}

const char *condition_text(const Condition *c, char buf[static CONDITION_TEXT_MAX]) {
        if (c->text)
                return c->text;
        if (!render(c, c->form, buf))
                buf[0] = 0; /* not reached: condition_keep_text() rendered it */
        return buf;
}
