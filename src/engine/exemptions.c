/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exemptions.c — the IKE/AuthIP exemption set, as real filters (doc/design.md §8, README).
 *
 * IPv4 UDP 500 and 4500, IPv6 UDP 500 only. At the transport layers any address may use
 * them; at the ALE layers only the local system's sockets. A packet qualifies by its local
 * port, or by its remote port when this host started the flow (client-mode IKE sends from
 * a random port) — never by its remote port alone, which would let any inbound datagram
 * with source port 500 through. They are hard permits in weight range 0xC of the universal
 * sublayer; a provider that wants to restrict IKE blocks in 0xD–0xF or a higher sublayer. Their
 * provider is the built-in FWPM_PROVIDER_IKEEXT, which tags the filters of the keying service.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "engine-internal.h"
#include "exemptions.h"
#include "macro.h"

typedef struct ExemptionDef {
        WfpLayer layer;
        WfpField port_field;            /* IP_LOCAL_PORT or IP_REMOTE_PORT */
        bool locally_initiated;
        bool local_system;
        const char *what;
} ExemptionDef;

static const ExemptionDef defs[] = {
        { WFP_LAYER_INBOUND_TRANSPORT_V4,    WFP_FIELD_IP_LOCAL_PORT,  false, false, "inbound, local port" },
        { WFP_LAYER_INBOUND_TRANSPORT_V4,    WFP_FIELD_IP_REMOTE_PORT, true,  false, "inbound, remote port of a flow this host started" },
        { WFP_LAYER_OUTBOUND_TRANSPORT_V4,   WFP_FIELD_IP_LOCAL_PORT,  false, false, "outbound, local port" },
        { WFP_LAYER_OUTBOUND_TRANSPORT_V4,   WFP_FIELD_IP_REMOTE_PORT, true,  false, "outbound, remote port of a flow this host started" },
        { WFP_LAYER_ALE_AUTH_RECV_ACCEPT_V4, WFP_FIELD_IP_LOCAL_PORT,  false, true,  "receive/accept, local port, local system" },
        { WFP_LAYER_ALE_AUTH_CONNECT_V4,     WFP_FIELD_IP_LOCAL_PORT,  false, true,  "connect, local port, local system" },
        { WFP_LAYER_ALE_AUTH_CONNECT_V4,     WFP_FIELD_IP_REMOTE_PORT, false, true,  "connect, remote port, local system" },
        { WFP_LAYER_INBOUND_TRANSPORT_V6,    WFP_FIELD_IP_LOCAL_PORT,  false, false, "inbound, local port" },
        { WFP_LAYER_INBOUND_TRANSPORT_V6,    WFP_FIELD_IP_REMOTE_PORT, true,  false, "inbound, remote port of a flow this host started" },
        { WFP_LAYER_OUTBOUND_TRANSPORT_V6,   WFP_FIELD_IP_LOCAL_PORT,  false, false, "outbound, local port" },
        { WFP_LAYER_OUTBOUND_TRANSPORT_V6,   WFP_FIELD_IP_REMOTE_PORT, true,  false, "outbound, remote port of a flow this host started" },
        { WFP_LAYER_ALE_AUTH_RECV_ACCEPT_V6, WFP_FIELD_IP_LOCAL_PORT,  false, true,  "receive/accept, local port, local system" },
        { WFP_LAYER_ALE_AUTH_CONNECT_V6,     WFP_FIELD_IP_LOCAL_PORT,  false, true,  "connect, local port, local system" },
        { WFP_LAYER_ALE_AUTH_CONNECT_V6,     WFP_FIELD_IP_REMOTE_PORT, false, true,  "connect, remote port, local system" },
};

_Static_assert(ELEMENTSOF(defs) <= EXEMPTION_FILTERS_MAX, "EXEMPTION_FILTERS_MAX too small");

/* Stable keys, so the set looks the same after every restart: bfed0e00-1ce0-4000-8000-0000000000NN */
static void exemption_key(size_t i, BfeGuid *ret) {
        char buf[GUID_STRING_MAX];

        snprintf(buf, sizeof(buf), "bfed0e00-1ce0-4000-8000-%012zx", i + 1);
        (void) guid_from_string(buf, ret);
}

#define EXEMPTION_CONDITIONS_MAX 5      /* exemption_new()'s most: protocol, two ports, two flags */

static int add_condition(Filter *f, WfpField field, const char *text) {
        Condition *c = &f->conditions[f->n_conditions];

        if (f->n_conditions >= EXEMPTION_CONDITIONS_MAX)
                return -E2BIG;      /* not reached: exemption_new() allocated room for its most */

        *c = (Condition) { .field = field, .match = WFP_MATCH_EQUAL };
        if (field == WFP_FIELD_IP_PROTOCOL) {
                c->len = 1;
                c->lo[0] = c->hi[0] = 17;
        } else if (field == WFP_FIELD_IP_LOCAL_PORT || field == WFP_FIELD_IP_REMOTE_PORT) {
                int port = atoi(text);
                c->len = 2;
                c->lo[0] = c->hi[0] = (uint8_t) (port >> 8);
                c->lo[1] = c->hi[1] = (uint8_t) port;
        }
        f->n_conditions++;
        return condition_keep_text(c, text);
}

static int exemption_new(Engine *e, size_t i, Filter **ret) {
        const ExemptionDef *d = &defs[i];
        int family = wfp_layer_info(d->layer)->family;
        Filter *f;
        BfeGuid key;
        char name[256];
        int r;

        snprintf(name, sizeof(name), "IKE/AuthIP exemption: IPv%d UDP %s, %s",
                 family, family == 4 ? "500/4500" : "500", d->what);
        f = object_alloc(OBJECT_FILTER, sizeof(*f) + EXEMPTION_CONDITIONS_MAX * sizeof(Condition), name);
        if (!f)
                return -ENOMEM;
        f->description = strdup("Added by bfed while an IKE or AuthIP main-mode policy filter exists");
        if (!f->description) {
                filter_destroy(f);
                return -ENOMEM;
        }

        r = add_condition(f, WFP_FIELD_IP_PROTOCOL, "udp");
        if (r >= 0)
                r = add_condition(f, d->port_field, "500");
        if (r >= 0 && family == 4)
                r = add_condition(f, d->port_field, "4500"); /* consecutive: ORed with 500 */
        if (r >= 0 && d->locally_initiated)
                r = add_condition(f, WFP_FIELD_BFED_LOCALLY_INITIATED, "true");
        if (r >= 0 && d->local_system)
                r = add_condition(f, WFP_FIELD_BFED_LOCAL_SYSTEM, "local system");
        if (r < 0) {
                filter_destroy(f);
                return r;
        }

        exemption_key(i, &f->key);
        f->layer = d->layer;
        f->sublayer = engine_universal_sublayer(e);
        (void) guid_from_string(WFP_PROVIDER_IKEEXT_GUID, &key);
        f->provider = engine_get_provider(e, &key); /* a choice: doc/org.bfed.Engine1.md */
        f->flags = WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT; /* hard permit */
        f->action = WFP_ACTION_PERMIT;
        f->weight_kind = WEIGHT_RANGE;
        f->weight = WFP_WEIGHT_RANGE_IKE_EXEMPTIONS;
        f->effective_weight = (uint64_t) WFP_WEIGHT_RANGE_IKE_EXEMPTIONS << WFP_AUTO_WEIGHT_BITS |
                              filter_auto_weight(f->conditions, f->n_conditions);
        f->engine_owned = true;
        *ret = f;
        return 0;
}

void exemptions_keys(BfeGuid keys[static EXEMPTION_FILTERS_MAX], size_t *ret_n) {
        for (size_t i = 0; i < ELEMENTSOF(defs); i++)
                exemption_key(i, &keys[i]);
        *ret_n = ELEMENTSOF(defs);
}

int exemptions_build(Engine *e, Filter **set, size_t *ret_n) {
        for (size_t i = 0; i < ELEMENTSOF(defs); i++) {
                int r = exemption_new(e, i, &set[i]);
                if (r < 0) {
                        while (i > 0)
                                filter_destroy(set[--i]);
                        return r;
                }
        }
        *ret_n = ELEMENTSOF(defs);
        return 0;
}
