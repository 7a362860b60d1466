/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-obstacle-watch.c — the pure parts of src/daemon/obstacle-watch.c: how a mask of exempted
 * datagram kinds reads in the ExemptionObstacles property and the log, and which kind a packet
 * Explain looks at is (the integration test obstacles.sh runs the rest against the kernel).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "macro.h"
#include "obstacle-masks.h"
#include "obstacle-watch.h"
#include "obstacles.h"

static void test_kinds_to_string(void **state) {
        static const struct {
                uint32_t kinds;
                const char *text;
        } cases[] = {
                { IN, "IPv4 UDP 500/4500 and IPv6 UDP 500 inbound" },
                { IN_NEW & (V4_500 | V4_4500), "IPv4 UDP 500/4500 inbound new flows" },
                { IN_REPLY & V6_500, "IPv6 UDP 500 inbound replies" },
                { NFT_DGRAM_ALL, "IPv4 UDP 500/4500 and IPv6 UDP 500 inbound and outbound" },
                { (IN_NEW | OUT_NEW) & V4_500, "IPv4 UDP 500 inbound and outbound new flows" },
                { (IN_NEW | OUT_REPLY) & V4_4500, "IPv4 UDP 4500 inbound new flows and outbound replies" },
                { (IN & (V4_500 | V6_500)) | (IN_NEW & V4_4500),
                  "IPv4 and IPv6 UDP 500 inbound, IPv4 UDP 4500 inbound new flows" },
                { ((OUT_NEW | OUT_REPLY) & V4_500) | (OUT_REPLY & V4_4500),
                  "IPv4 UDP 500 outbound, IPv4 UDP 4500 outbound replies" },
                { 0, "" },
        };
        char buf[256], tiny[8];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                obstacle_kinds_to_string(cases[i].kinds, buf, sizeof(buf));
                assert_string_equal(buf, cases[i].text);
        }
        /* cut short, never past the buffer */
        obstacle_kinds_to_string(IN, tiny, sizeof(tiny));
        assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

/* The kind of a packet given as FIELD, VALUE pairs at @layer. */
static int kind_of(WfpLayer layer, const char *const *fields, size_t n) {
        EngineError err = {};
        Packet p = {};

        for (size_t i = 0; i + 1 < n; i += 2)
                assert_int_equal(packet_set(&p, layer, fields[i], fields[i + 1], &err), 0);
        return obstacle_kind_of_packet(layer, &p);
}

#define KIND_OF(layer, ...) kind_of(layer, (const char *const[]) { __VA_ARGS__ }, \
                                    ELEMENTSOF(((const char *const[]) { __VA_ARGS__ })))

static void test_kind_of_packet(void **state) {
        /* a datagram to the local IKE port: a new flow inbound; with this host's flow, a reply */
        assert_int_equal(KIND_OF(WFP_LAYER_INBOUND_TRANSPORT_V4, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "500"),
                         NFT_DGRAM(0, false, false));
        assert_int_equal(KIND_OF(WFP_LAYER_INBOUND_TRANSPORT_V4, "IP_PROTOCOL", "17", "IP_LOCAL_PORT", "4500",
                                 "BFED_LOCALLY_INITIATED", "true"),
                         NFT_DGRAM(1, false, true));
        /* client mode: the remote port is the IKE port only for a flow this host started */
        assert_int_equal(KIND_OF(WFP_LAYER_INBOUND_TRANSPORT_V4, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "40000",
                                 "IP_REMOTE_PORT", "4500", "BFED_LOCALLY_INITIATED", "true"),
                         NFT_DGRAM(1, false, true));
        assert_int_equal(KIND_OF(WFP_LAYER_INBOUND_TRANSPORT_V4, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "40000",
                                 "IP_REMOTE_PORT", "500"),
                         -1);
        /* outbound: this host's flow is a new one, the peer's a reply */
        assert_int_equal(KIND_OF(WFP_LAYER_OUTBOUND_TRANSPORT_V6, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "500",
                                 "BFED_LOCALLY_INITIATED", "true"),
                         NFT_DGRAM(2, true, false));
        assert_int_equal(KIND_OF(WFP_LAYER_OUTBOUND_TRANSPORT_V6, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "500"),
                         NFT_DGRAM(2, true, true));
        /* the ALE layers see new flows; connect may name the peer's port */
        assert_int_equal(KIND_OF(WFP_LAYER_ALE_AUTH_RECV_ACCEPT_V4, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "500",
                                 "BFED_LOCALLY_INITIATED", "true"),
                         NFT_DGRAM(0, false, false));
        assert_int_equal(KIND_OF(WFP_LAYER_ALE_AUTH_CONNECT_V4, "IP_PROTOCOL", "udp", "IP_REMOTE_PORT", "4500"),
                         NFT_DGRAM(1, true, false));
        /* flow established: inbound like receive/accept, outbound like connect; no direction, no kind */
        assert_int_equal(KIND_OF(WFP_LAYER_ALE_FLOW_ESTABLISHED_V4, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "500",
                                 "DIRECTION", "inbound"),
                         NFT_DGRAM(0, false, false));
        assert_int_equal(KIND_OF(WFP_LAYER_ALE_FLOW_ESTABLISHED_V4, "IP_PROTOCOL", "udp", "IP_REMOTE_PORT", "4500",
                                 "DIRECTION", "outbound"),
                         NFT_DGRAM(1, true, false));
        assert_int_equal(KIND_OF(WFP_LAYER_ALE_FLOW_ESTABLISHED_V4, "IP_PROTOCOL", "udp", "IP_REMOTE_PORT", "4500",
                                 "DIRECTION", "inbound"),
                         -1);
        assert_int_equal(KIND_OF(WFP_LAYER_ALE_FLOW_ESTABLISHED_V4, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "500"), -1);
        /* the forward layers have no ports: nothing of theirs is an exempted datagram */
        assert_int_equal(KIND_OF(WFP_LAYER_IPFORWARD_V4, "IP_DESTINATION_ADDRESS", "192.0.2.1"), -1);
        /* what the exemptions do not cover */
        assert_int_equal(KIND_OF(WFP_LAYER_INBOUND_TRANSPORT_V6, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "4500"), -1);
        assert_int_equal(KIND_OF(WFP_LAYER_INBOUND_TRANSPORT_V4, "IP_PROTOCOL", "tcp", "IP_LOCAL_PORT", "500"), -1);
        assert_int_equal(KIND_OF(WFP_LAYER_INBOUND_TRANSPORT_V4, "IP_LOCAL_PORT", "500"), -1);
        assert_int_equal(KIND_OF(WFP_LAYER_INBOUND_TRANSPORT_V4, "IP_PROTOCOL", "udp", "IP_LOCAL_PORT", "53"), -1);
}

static void test_no_watch(void **state) {
        /* the glue asks whatever the logic has: without a watch (tests), nothing */
        assert_int_equal(obstacle_watch_count(NULL), 0);
        assert_null(obstacle_watch_entry(NULL, 0));
        assert_null(obstacle_watch_text(NULL, 0));
        obstacle_watch_exemptions_changed(NULL, true);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kinds_to_string),
                cmocka_unit_test(test_kind_of_packet),
                cmocka_unit_test(test_no_watch),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
