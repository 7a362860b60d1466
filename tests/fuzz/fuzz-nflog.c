/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-nflog.c — libFuzzer target: what the kernel sends to bfed's nflog socket (a buffer of
 * netlink messages), each parsed (nflog_parse()) and its filter looked up as the net events do
 * (nft_net_event_filter()) in an engine with a filter's rule of its own, a run of three and an
 * IPv6 and an outbound block, all compiled with their log statements. The prefix must be valid
 * UTF-8, within its bound and free of control characters; the family 0, 4 or 6, ports only with
 * one; a filter found must be one that drops, at a layer of the packet's family. The input is
 * copied to an aligned buffer: the parser reads nlmsghdr and nlattr in place, as from a socket.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "compile.h"
#include "engine.h"
#include "fuzz-util.h"
#include "nflog.h"
#include "nlmsg.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Engine *engine;
static NftLayout *layout;

static void add_block(const char *layer, const char *field, const char *port) {
        ConditionSpec conds[] = { { "IP_PROTOCOL", 0, "udp" }, { (char *) field, 0, (char *) port } };
        FilterSpec fs = { .name = "fuzz", .layer = (char *) layer, .action = WFP_ACTION_BLOCK, .conditions = conds,
                          .n_conditions = 2 };

        if (engine_begin(engine) < 0 || engine_add_filter(engine, &fs, NULL, NULL) < 0)
                abort();
        engine_commit(engine);
}

/* Filters 1-4 at INBOUND_TRANSPORT_V4 (1 a rule, 2-4 a run: udp to 7001-7004), 5 over IPv6,
 * 6 on the way out; their rules laid out as if the kernel had taken them. */
static void setup(void) {
        NftConfig cfg;
        NftBatch *b;
        uint64_t handle = 1;

        if (engine_new(&engine) < 0)
                abort();
        add_block("INBOUND_TRANSPORT_V4", "IP_LOCAL_PORT", "7001");
        add_block("INBOUND_TRANSPORT_V4", "IP_LOCAL_PORT", "7002");
        add_block("INBOUND_TRANSPORT_V4", "IP_LOCAL_PORT", "7003");
        add_block("INBOUND_TRANSPORT_V4", "IP_LOCAL_PORT", "7004");
        add_block("INBOUND_TRANSPORT_V6", "IP_LOCAL_PORT", "7001");
        add_block("OUTBOUND_TRANSPORT_V4", "IP_REMOTE_PORT", "7005");
        nft_config_init(&cfg);
        cfg.net_events = true;
        if (nft_batch_new(1, &b) < 0 || nft_layout_new(&layout) < 0 ||
            nft_compile_ruleset(engine, layout, &cfg, true, b) < 0)
                abort();
        for (size_t i = 0; i < b->n_records; i++)
                if (b->records[i].handle)
                        *b->records[i].handle = handle++;
        nft_batch_finish(b, true);
        nft_batch_free(b);
}

static void check_prefix(const char *s) {
        size_t n = strnlen(s, NFLOG_PREFIX_MAX);

        if (n >= NFLOG_PREFIX_MAX || !utf8_is_valid(s)) {
                fprintf(stderr, "fuzz-nflog: the prefix is not valid text within %d bytes\n", NFLOG_PREFIX_MAX);
                abort();
        }
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
                        fprintf(stderr, "fuzz-nflog: the prefix has a control character\n");
                        abort();
                }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const struct nlmsghdr *nlh;
        size_t off = 0;
        void *buf;

        if (!engine)
                setup();
        buf = fuzz_aligned_copy(data, size);
        if (!buf)
                return 0;

        while ((nlh = nlmsg_next_safe(buf, size, &off))) {
                const Filter *f;
                NflogPacket p;
                int r = nflog_parse(nlh, &p);

                if (r == -ENOMSG || r == -EBADMSG)
                        continue;
                if (r != 0)
                        abort();
                check_prefix(p.prefix);
                if ((p.family != 0 && p.family != 4 && p.family != 6) || (p.has_ports && p.family == 0))
                        abort();
                f = nft_net_event_filter(engine, layout, &p);
                if (f && (f->action != WFP_ACTION_BLOCK || wfp_layer_info(f->layer)->family != p.family))
                        abort();
        }
        free(buf);
        return 0;
}
