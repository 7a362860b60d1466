/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conns.c — see conns.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "conns.h"
#include "macro.h"

void conns_done(Conns *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->conns[i].name);
        free(s->conns);
        *s = (Conns) {};
}

uint8_t conn_versions_from_string(const char *s) {
        if (streq_ptr(s, "IKEv1"))
                return IKE_V1;
        if (streq_ptr(s, "IKEv2"))
                return IKE_V2;
        return IKE_ANY;
}

uint8_t conn_family_of_address(const char *s) {
        char buf[INET6_ADDRSTRLEN + 1];
        uint8_t a[16];
        size_t n;

        if (streq(s, "%any4"))
                return FAMILY_V4;
        if (streq(s, "%any6"))
                return FAMILY_V6;
        /* the address, without a prefix length or the end of a range */
        n = strcspn(s, "/-");
        if (n >= sizeof(buf))
                return FAMILY_ANY;
        memcpy(buf, s, n);
        buf[n] = 0;
        if (inet_pton(AF_INET, buf, a) == 1)
                return FAMILY_V4;
        if (inet_pton(AF_INET6, buf, a) == 1)
                return FAMILY_V6;
        return FAMILY_ANY;
}

uint8_t conn_families(uint8_t local, uint8_t remote) {
        uint8_t both = local & remote;

        return both ? both : (local | remote) ? (local | remote) : FAMILY_ANY;
}

/* The union of the families of a list's addresses; 0 for no list or an empty one. */
static uint8_t list_families(const ViciMessage *m, ViciNode conn, const char *name) {
        ViciNode list = vici_find(m, conn, VICI_LIST_START, name);
        uint8_t f = 0;

        if (list == VICI_NONE)
                return 0;
        VICI_FOREACH(i, m, list) {
                const char *addr = vici_node_str(m, i);

                f |= addr ? conn_family_of_address(addr) : FAMILY_ANY;
        }
        return f;
}

int conns_add_event(Conns *s, const ViciMessage *m) {
        VICI_FOREACH(i, m, VICI_ROOT) {
                uint8_t local, remote;
                char *name;

                if (vici_node_type(m, i) != VICI_SECTION_START)
                        continue;
                if (s->n >= CONNS_MAX) {
                        s->n_dropped++;
                        continue;
                }
                local = list_families(m, i, "local_addrs");
                remote = list_families(m, i, "remote_addrs");
                name = strdup(vici_node_name(m, i));
                if (!name || !ARRAY_RESERVE(s->conns, s->alloc, s->n + 1, 16)) {
                        free(name);
                        return -ENOMEM;
                }
                s->conns[s->n++] = (Conn) {
                        .name = name,
                        .versions = conn_versions_from_string(vici_find_str(m, i, "version")),
                        .families = conn_families(local ?: FAMILY_ANY, remote ?: FAMILY_ANY),
                };
        }
        return 0;
}

static int conn_compare(const void *a, const void *b) {
        return strcmp(((const Conn *) a)->name, ((const Conn *) b)->name);
}

void conns_finish(Conns *s) {
        size_t k = 0;

        if (s->n == 0)
                return;
        qsort(s->conns, s->n, sizeof(Conn), conn_compare);
        for (size_t i = 1; i < s->n; i++) {
                /* charon names each connection once; if not, one policy covers what they all allow */
                if (streq(s->conns[i].name, s->conns[k].name)) {
                        s->conns[k].versions |= s->conns[i].versions;
                        s->conns[k].families |= s->conns[i].families;
                        free(s->conns[i].name);
                        continue;
                }
                s->conns[++k] = s->conns[i];
        }
        s->n = k + 1;
}

const Conn *conns_find(const Conns *s, const char *name) {
        Conn key = { .name = (char *) name };

        return s->n ? bsearch(&key, s->conns, s->n, sizeof(Conn), conn_compare) : NULL;
}

const char *conn_versions_to_string(uint8_t versions) {
        return versions == IKE_V1 ? "IKEv1" : versions == IKE_V2 ? "IKEv2" : "IKEv1 and IKEv2";
}

const char *conn_families_to_string(uint8_t families) {
        return families == FAMILY_V4 ? "IPv4" : families == FAMILY_V6 ? "IPv6" : "IPv4 and IPv6";
}
