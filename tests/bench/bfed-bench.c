/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfed-bench.c — the benchmark of issue 3, item 8: drives a running bfed through libbfe and
 * prints P1 (10,000 AddFilter calls), P3 (AddFilter latency at 1,000 vs 100,000 filters),
 * P4 (IKE MM policy add → exemptions in the kernel) and P5 (daemon RSS per filter); with --p2,
 * instead, P2 of issue 4 (N filters added in ONE transaction of one session: Begin, N AddFilter
 * on the session object, Commit), optionally persistent (--persistent), which is also how
 * scripts/bench sets up P6 (the restart with persistent filters; timed by bench-notify).
 *
 * It needs a daemon that is already running (scripts/bench starts one in a network
 * namespace on a private bus); the nft baselines are measured by scripts/bench and passed in
 * with --nft-*, so the ratios printed here are against figures from the same run. The adds of
 * P1, of the fill to the large size and of P2 keep --window AddFilter calls in flight (64 by
 * default: asynchronous libbfe calls, each still one D-Bus call per filter, as a policy provider
 * loading its policy would make them); P3 times single synchronous calls, P4 single calls whose
 * replies it busy-polls (and, for reference, the same waiting blocked). Sections are
 * timed with CLOCK_MONOTONIC; the checks (nft listings, properties, /proc reads) happen outside
 * the timed sections.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include <bfe/bfe.h>

#include "bench-mix.h"

#define NSEC_PER_SEC  UINT64_C(1000000000)
#define NSEC_PER_MSEC UINT64_C(1000000)

/* The goals are issue 12's, the strictest so far (issue 3, item 8 and issue 4 had P1 >= 20x,
 * P4 <= 1 ms, P5 <= 1024 B and P2 <= 1.5x; P3 is the same). */
#define GOAL_P1_RATIO    100.0  /* nft add rule time / bfed time, at least */
#define GOAL_P3_RATIO    1.5    /* median AddFilter at large / at small, at most */
#define GOAL_P4_MEDIAN   0.3    /* ms, at most */
#define GOAL_P5_BYTES    512.0  /* RSS bytes per filter, at most */
#define GOAL_P2_RATIO    0.35   /* one transaction of N filters / nft -f of N rules, at most */
#define GOAL_P2_MIXED_RATIO 0.6 /* the same for the mixed policy (against its rules as plain rules) */

/* Filter indices used by the latency samples: far above any fill index, so always distinct. */
#define SAMPLE_INDEX_BASE 1000000u

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static struct {
        unsigned p1_count;
        unsigned small;
        unsigned large;
        unsigned samples;
        unsigned mm_cycles;
        unsigned fill_budget;           /* seconds for the fill from p1_count to large */
        unsigned progress_every;
        long pid;
        long bus_pid;                   /* dbus-daemon's: its CPU per call is printed too */
        bool verify_nft;
        double nft_add_rule_s;          /* time of the sample of `nft add rule` invocations */
        unsigned nft_add_rule_n;
        double nft_f_s;                 /* time of `nft -f` with nft_f_n rules */
        unsigned nft_f_n;
        unsigned p2;                    /* P2 mode: filters in the one transaction (0 = off) */
        unsigned p2_budget;             /* seconds for the adds of that transaction */
        bool persistent;                /* P2: add them with FWPM_*_FLAG_PERSISTENT */
        unsigned p2_batch;              /* P2: commit every so many filters (0 = one transaction) */
        unsigned window;                /* P1, fill, P2: AddFilter calls in flight (1 = synchronous) */
        unsigned per_call;              /* P2: filters per AddFilters call (0, 1: AddFilter calls) */
        bool mixed;                     /* the mixed policy of issue 12 instead of the homogeneous one */
        const char *emit_nft;           /* write the first emit_n filters as nft rules and exit */
        unsigned emit_n;
        const char *add_last;           /* add P7's last filter (ADDR:PORT) and exit */
        const char *beside;             /* P3's small point on the bfed of this private socket */
} arg = {
        .p1_count = 10000,
        .small = 1000,
        .large = 100000,
        .samples = 200,
        .mm_cycles = 200,
        .fill_budget = 300,
        .progress_every = 10000,
        .nft_add_rule_s = -1,
        .nft_add_rule_n = 500,
        .nft_f_s = -1,
        .nft_f_n = 100000,
        .p2_budget = 300,
        .window = 64,
};

static BfeEngine *engine;              /* the daemon measured; swapped only for a moment (P1's
                                         * calls through the bus, the daemon beside's calls) */
static BfeEngine *engine_beside;       /* --beside: the daemon at the small size */
static char table[64] = "bfed";
static BfeKey mm_context;
static uint64_t *fill_ids;              /* ids of the fill filters, by index */
static uint32_t fill_base_count;        /* FilterCount before the fill */

/* The first AddFilter of the fill the daemon refused: the fill stops there and the remaining
 * figures are measured at the size reached (a refusal is reported, and makes the exit 1). */
#define BACK_OFF 16u
static struct {
        bool refused;
        bool backed_off;
        unsigned at;                    /* filters in the database when it happened */
        char message[512];
} fill_error;

/* ---- helpers ------------------------------------------------------------------------------- */

static uint64_t now_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

static double ns_to_ms(uint64_t ns) {
        return (double) ns / (double) NSEC_PER_MSEC;
}

static double ns_to_s(uint64_t ns) {
        return (double) ns / (double) NSEC_PER_SEC;
}

static _Noreturn void fail(const char *what, int r) {
        const BfeError *err = engine ? bfe_engine_last_error(engine) : NULL;

        fprintf(stderr, "bfed-bench: %s failed: %s%s%s\n", what, err && err->message[0] ? err->message : strerror(-r),
                err && err->bus_name ? " — " : "", err && err->bus_name ? err->bus_name : "");
        exit(EXIT_FAILURE);
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

typedef struct Stats {
        double median_ms;
        double p95_ms;
        double min_ms;
        double max_ms;
} Stats;

/* Sorts @v in place. Median of an even count is the mean of the two middle values; p95 is the
 * nearest-rank value. */
static Stats stats_of(uint64_t *v, size_t n) {
        Stats s = { NAN, NAN, NAN, NAN };
        size_t k;

        if (n == 0)
                return s;
        qsort(v, n, sizeof(*v), compare_u64);
        s.median_ms = n % 2 ? ns_to_ms(v[n / 2]) : (ns_to_ms(v[n / 2 - 1]) + ns_to_ms(v[n / 2])) / 2;
        k = (size_t) ceil(0.95 * (double) n);
        s.p95_ms = ns_to_ms(v[k > 0 ? k - 1 : 0]);
        s.min_ms = ns_to_ms(v[0]);
        s.max_ms = ns_to_ms(v[n - 1]);
        return s;
}

/* VmRSS of @pid in bytes, or -1. */
static long long rss_bytes(long pid) {
        char path[64], line[256];
        long long kb = -1;
        FILE *f;

        if (pid <= 0)
                return -1;
        snprintf(path, sizeof(path), "/proc/%ld/status", pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb < 0 ? -1 : kb * 1024;
}

/* The CPU time @pid has used (user and system), in ns; 0 if it cannot be read. Clock ticks: the
 * figures it makes are averages over many calls. */
static uint64_t cpu_ns(long pid) {
        unsigned long long utime, stime;
        char path[64], buf[1024], *p;
        long tick = sysconf(_SC_CLK_TCK);
        FILE *f;
        size_t n;

        if (pid <= 0 || tick <= 0)
                return 0;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        /* the fields after the command name, which may hold spaces: state is field 3, utime 14 */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return 0;
        return (utime + stime) * (NSEC_PER_SEC / (uint64_t) tick);
}

/* The pid of the owner of @name (org.bfed.Engine1: bfed; org.freedesktop.DBus: dbus-daemon),
 * asked from the bus itself. */
static long owner_pid(const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus *bus = NULL;
        uint32_t pid = 0;
        int r;

        r = sd_bus_default_system(&bus);
        if (r >= 0)
                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "GetConnectionUnixProcessID", &error, &reply, "s", name);
        if (r >= 0)
                r = sd_bus_message_read(reply, "u", &pid);
        if (r < 0)
                fprintf(stderr, "bfed-bench: could not ask the bus for the pid of %s: %s\n", name,
                        error.message ?: strerror(-r));
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return r < 0 ? -1 : (long) pid;
}

/* ---- the filters --------------------------------------------------------------------------- */

/*
 * Rule @i: INBOUND_TRANSPORT_V4, block, udp, local port 1024 + i % 64000, remote address
 * 10.(i>>16).(i>>8).i. scripts/bench generates the very same rules for the nft baselines.
 * With --mixed, filter @i is of the mixed policy instead (mixed_filter() below).
 */
typedef struct RuleFilter {
        char name[32], port[8], addr[20];
        char v[3][48];
        BfeCondition conds[3];
        BfeFilter f;
} RuleFilter;

static const BfeFilter *mixed_filter(RuleFilter *rf, unsigned i, uint32_t flags);

static const BfeFilter *rule_filter(RuleFilter *rf, unsigned i, uint32_t flags) {
        if (arg.mixed)
                return mixed_filter(rf, i, flags);
        snprintf(rf->name, sizeof(rf->name), "bench %u", i);
        snprintf(rf->port, sizeof(rf->port), "%u", 1024 + i % 64000);
        snprintf(rf->addr, sizeof(rf->addr), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        rf->conds[0] = (BfeCondition) { .field = (char *) "IP_PROTOCOL", .match = BFE_MATCH_EQUAL, .value = (char *) "udp" };
        rf->conds[1] = (BfeCondition) { .field = (char *) "IP_LOCAL_PORT", .match = BFE_MATCH_EQUAL, .value = rf->port };
        rf->conds[2] = (BfeCondition) { .field = (char *) "IP_REMOTE_ADDRESS", .match = BFE_MATCH_EQUAL, .value = rf->addr };
        rf->f = (BfeFilter) {
                .name = rf->name,
                .layer = (char *) "INBOUND_TRANSPORT_V4",
                .action = BFE_ACTION_BLOCK,
                .flags = flags,
                .conditions = rf->conds,
                .n_conditions = 3,
        };
        return &rf->f;
}

/*
 * The mixed policy (--mixed; doc/benchmark.md, "Issue 12"): filter @i has the shape i % 10 gives,
 * so every 10 consecutive filters hold every shape in these proportions, interleaved as a provider
 * that loads a policy peer by peer would add them:
 *
 *   0–3  40%  prefix:  remote address prefix /16–/32 (blocklist), block, sublayer "bench blocklist"
 *   4–5  20%  range:   tcp or udp, local port range of 2–64 ports, remote /24, permit (⅔) or block,
 *                      the universal sublayer
 *   6–8  30%  tuple:   tcp or udp, exact remote address and remote port (a peer), permit (¾) or
 *                      block, the universal sublayer
 *   9    10%  callout: exact remote address, FWPM_CALLOUT_IPSEC_INBOUND_TRANSPORT_V4 (IPsec
 *                      required from that peer), sublayer "bench ipsec"
 *
 * Every other group of 10 has explicit weights (pseudo-random 59-bit values, never 0), the
 * others automatic ones (FWP_EMPTY). All at INBOUND_TRANSPORT_V4. The values come from a hash
 * of @i, so they are the same in every run; none of them matches 192.0.2.0/24 or 10.0.0.0/8 (the
 * P7 peer and the homogeneous filters).
 */
enum { SHAPE_PREFIX, SHAPE_RANGE, SHAPE_TUPLE, SHAPE_CALLOUT, _SHAPE_MAX };
static const char *const shape_names[_SHAPE_MAX] = { "prefix", "range", "tuple", "callout" };

#define MIXED_SUBLAYER_BLOCKLIST "b12b0000-0000-4000-8000-000000000001"
#define MIXED_SUBLAYER_IPSEC     "b12b0000-0000-4000-8000-000000000002"
#define MIXED_BLOCKLIST_WEIGHT   0x9400u        /* above the universal sublayer (0x8000) */
#define MIXED_IPSEC_WEIGHT       0xA400u
#define CALLOUT_IPSEC_INBOUND_TRANSPORT_V4 "5132900d-5e84-4b5f-80e4-01741e81ff10"

static unsigned mixed_shape(unsigned i) {
        static const uint8_t by_rest[10] = { 0, 0, 0, 0, 1, 1, 2, 2, 2, 3 };

        return by_rest[i % 10];
}

/* Filter @i of the mixed policy, described without libbfe's types (also for the nft text). */
typedef struct MixedFilter {
        unsigned shape;
        bool explicit_weight;
        uint64_t weight;
        uint32_t action;
        bool tcp;
        uint32_t addr;                  /* host order */
        unsigned prefix_len;            /* 32 for an exact address */
        unsigned port_lo, port_hi;      /* range: local ports; tuple: the remote port (lo == hi) */
} MixedFilter;

static MixedFilter mixed_describe(unsigned i) {
        uint32_t h, h2, h3;
        MixedFilter m;

        mix_hashes(i, &h, &h2, &h3);
        m = (MixedFilter) {
                .shape = mixed_shape(i),
                .explicit_weight = (i / 10) % 2 == 1,
                .weight = mix_weight(h, h3),
                .tcp = h & 1,
                .prefix_len = 32,
        };

        switch (m.shape) {
        case SHAPE_PREFIX:
                m.prefix_len = 16 + h2 % 17;
                m.addr = ((11u + h % 89u) << 24) | (h3 & 0xffffffu);
                m.addr &= m.prefix_len == 0 ? 0 : UINT32_MAX << (32 - m.prefix_len);
                m.action = BFE_ACTION_BLOCK;
                break;
        case SHAPE_RANGE:
                m.prefix_len = 24;
                m.addr = (100u << 24) | ((64u + (h2 >> 8) % 64u) << 16) | (((h2 >> 16) & 255u) << 8);
                m.port_lo = 1024 + h % 60000;
                m.port_hi = m.port_lo + 1 + h3 % 63;
                m.action = h2 % 3 == 0 ? BFE_ACTION_BLOCK : BFE_ACTION_PERMIT;
                break;
        case SHAPE_TUPLE:
                m.addr = (172u << 24) | ((16u + (h >> 8) % 16u) << 16) | (((h >> 16) & 255u) << 8) | (h3 & 255u);
                m.port_lo = m.port_hi = 1024 + h2 % 64000;
                m.action = h2 % 4 == 0 ? BFE_ACTION_BLOCK : BFE_ACTION_PERMIT;
                break;
        default:
                m.addr = (198u << 24) | ((18u + (h & 1)) << 16) | (((h >> 8) & 255u) << 8) | ((h >> 16) & 255u);
                m.action = BFE_ACTION_CALLOUT_TERMINATING;
                break;
        }
        return m;
}

static void addr_text(uint32_t a, unsigned len, char *buf, size_t size) {
        if (len == 32)
                snprintf(buf, size, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
        else
                snprintf(buf, size, "%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
}

static BfeKey mixed_blocklist, mixed_ipsec, callout_ipsec;

static const BfeFilter *mixed_filter(RuleFilter *rf, unsigned i, uint32_t flags) {
        MixedFilter m = mixed_describe(i);
        size_t n = 0;

        snprintf(rf->name, sizeof(rf->name), "bench %u", i);
        rf->f = (BfeFilter) {
                .name = rf->name,
                .layer = (char *) "INBOUND_TRANSPORT_V4",
                .action = m.action,
                .flags = flags,
                .weight_kind = m.explicit_weight ? BFE_WEIGHT_EXPLICIT : BFE_WEIGHT_AUTO,
                .weight = m.explicit_weight ? m.weight : 0,
                .conditions = rf->conds,
        };
        if (m.shape == SHAPE_RANGE || m.shape == SHAPE_TUPLE)
                rf->conds[n++] = (BfeCondition) { .field = (char *) "IP_PROTOCOL", .match = BFE_MATCH_EQUAL,
                                                  .value = (char *) (m.tcp ? "tcp" : "udp") };
        addr_text(m.addr, m.prefix_len, rf->v[0], sizeof(rf->v[0]));
        rf->conds[n++] = (BfeCondition) { .field = (char *) "IP_REMOTE_ADDRESS", .match = BFE_MATCH_EQUAL,
                                          .value = rf->v[0] };
        if (m.shape == SHAPE_RANGE) {
                snprintf(rf->v[1], sizeof(rf->v[1]), "%u-%u", m.port_lo, m.port_hi);
                rf->conds[n++] = (BfeCondition) { .field = (char *) "IP_LOCAL_PORT", .match = BFE_MATCH_RANGE,
                                                  .value = rf->v[1] };
        } else if (m.shape == SHAPE_TUPLE) {
                snprintf(rf->v[1], sizeof(rf->v[1]), "%u", m.port_lo);
                rf->conds[n++] = (BfeCondition) { .field = (char *) "IP_REMOTE_PORT", .match = BFE_MATCH_EQUAL,
                                                  .value = rf->v[1] };
        }
        rf->f.n_conditions = n;
        if (m.shape == SHAPE_PREFIX)
                rf->f.sublayer_key = mixed_blocklist;
        else if (m.shape == SHAPE_CALLOUT) {
                rf->f.sublayer_key = mixed_ipsec;
                rf->f.callout_key = callout_ipsec;
        }
        return &rf->f;
}

/* The sublayers of the mixed policy (the engine's; inside the caller's transaction, if any). */
static void mixed_setup(void) {
        BfeSublayer blocklist = {
                .name = (char *) "bench blocklist",
                .description = (char *) "bfed-bench --mixed: address prefixes",
                .weight = MIXED_BLOCKLIST_WEIGHT,
        }, ipsec = {
                .name = (char *) "bench ipsec",
                .description = (char *) "bfed-bench --mixed: IPsec required from these peers",
                .weight = MIXED_IPSEC_WEIGHT,
        };
        int r;

        if (bfe_key_from_string(MIXED_SUBLAYER_BLOCKLIST, &mixed_blocklist) < 0 ||
            bfe_key_from_string(MIXED_SUBLAYER_IPSEC, &mixed_ipsec) < 0 ||
            bfe_key_from_string(CALLOUT_IPSEC_INBOUND_TRANSPORT_V4, &callout_ipsec) < 0)
                fail("parsing the mixed policy's keys", -EINVAL);
        blocklist.key = mixed_blocklist;
        ipsec.key = mixed_ipsec;
        r = bfe_sublayer_add(engine, &blocklist, NULL);
        if (r < 0)
                fail("AddSublayer (bench blocklist)", r);
        r = bfe_sublayer_add(engine, &ipsec, NULL);
        if (r < 0)
                fail("AddSublayer (bench ipsec)", r);
}

/*
 * --emit-nft FILE: the first @n filters (of the mixed policy with --mixed, else the homogeneous
 * ones) as plain nft rules in table inet benchref_f, for the `nft -f` reference of P2: one chain
 * per sublayer, jumped to from a base chain in the sublayers' order, each filter one rule with
 * a counter and a comment as bfed's rules have. An IPsec-required callout is a rule that drops
 * what has no IPsec state (`meta secpath missing`).
 */
static int emit_nft(const char *path, unsigned n) {
        FILE *f = fopen(path, "we");

        if (!f)
                return -errno;
        fprintf(f, "table inet benchref_f {\n");
        if (!arg.mixed) {
                fprintf(f, "\tchain c {\n");
                for (unsigned i = 0; i < n; i++)
                        fprintf(f, "\t\tudp dport %u ip saddr 10.%u.%u.%u counter drop comment \"bench %u\"\n",
                                1024 + i % 64000, (i >> 16) & 255, (i >> 8) & 255, i & 255, i);
                fprintf(f, "\t}\n}\n");
                return fclose(f) == 0 ? 0 : -errno;
        }
        fprintf(f, "\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n"
                   "\t\tjump sl_ipsec\n\t\tjump sl_blocklist\n\t\tjump sl_universal\n\t}\n");
        for (unsigned s = 0; s < 3; s++) {
                static const char *const chains[] = { "sl_ipsec", "sl_blocklist", "sl_universal" };

                fprintf(f, "\tchain %s {\n", chains[s]);
                for (unsigned i = 0; i < n; i++) {
                        MixedFilter m = mixed_describe(i);
                        char a[32];
                        const char *verdict = m.action == BFE_ACTION_PERMIT ? "accept" : "drop";
                        const char *proto = m.tcp ? "tcp" : "udp";

                        addr_text(m.addr, m.prefix_len, a, sizeof(a));
                        if ((s == 0) != (m.shape == SHAPE_CALLOUT) || (s == 1) != (m.shape == SHAPE_PREFIX))
                                continue;
                        if (m.shape == SHAPE_CALLOUT)
                                fprintf(f, "\t\tip saddr %s meta secpath missing counter drop", a);
                        else if (m.shape == SHAPE_PREFIX)
                                fprintf(f, "\t\tip saddr %s counter drop", a);
                        else if (m.shape == SHAPE_RANGE)
                                fprintf(f, "\t\t%s dport %u-%u ip saddr %s counter %s", proto, m.port_lo, m.port_hi,
                                        a, verdict);
                        else
                                fprintf(f, "\t\t%s sport %u ip saddr %s counter %s", proto, m.port_lo, a, verdict);
                        fprintf(f, " comment \"bench %u\"\n", i);
                }
                fprintf(f, "\t}\n");
        }
        fprintf(f, "}\n");
        return fclose(f) == 0 ? 0 : -errno;
}

/*
 * --add-last ADDR:PORT: the filter P7's matched traffic hits, the last one a packet walks: udp to
 * local port PORT from ADDR, permit, explicit weight 0 (the lowest there is) in the universal
 * sublayer (the lowest of the mixed policy's three).
 */
static uint32_t filter_count(void);

static int add_last(const char *spec) {
        char addr[64], port[8];
        const char *colon = strrchr(spec, ':');
        BfeCondition conds[3] = {
                { .field = (char *) "IP_PROTOCOL", .match = BFE_MATCH_EQUAL, .value = (char *) "udp" },
                { .field = (char *) "IP_LOCAL_PORT", .match = BFE_MATCH_EQUAL, .value = port },
                { .field = (char *) "IP_REMOTE_ADDRESS", .match = BFE_MATCH_EQUAL, .value = addr },
        };
        BfeFilter f = {
                .name = (char *) "bench P7 last",
                .layer = (char *) "INBOUND_TRANSPORT_V4",
                .action = BFE_ACTION_PERMIT,
                .weight_kind = BFE_WEIGHT_EXPLICIT,
                .weight = 0,
                .conditions = conds,
                .n_conditions = 3,
        };
        uint64_t id;
        int r;

        if (!colon || (size_t) (colon - spec) >= sizeof(addr) || strlen(colon + 1) >= sizeof(port))
                return -EINVAL;
        snprintf(addr, sizeof(addr), "%.*s", (int) (colon - spec), spec);
        snprintf(port, sizeof(port), "%s", colon + 1);
        r = bfe_engine_open(NULL, &engine);
        if (r < 0)
                fail("connecting to bfed (bfe_engine_open)", r);
        r = bfe_filter_add(engine, &f, NULL, &id);
        if (r < 0)
                fail("AddFilter (the P7 last filter)", r);
        printf("P7 last filter: id %" PRIu64 ", udp to port %s from %s, permit, weight 0; FilterCount %" PRIu32 "\n",
               id, port, addr, filter_count());
        bfe_engine_close(engine);
        return 0;
}

static int add_rule_filter(unsigned i, uint64_t *ret_id) {
        RuleFilter rf;

        return bfe_filter_add(engine, rule_filter(&rf, i, 0), NULL, ret_id);
}

/*
 * The AddFilter calls of rules in flight: up to arg.window at once (bfe_filter_add_async), or
 * with --window 1 one synchronous bfe_filter_add after the other, as before pipelining. Each is
 * still one D-Bus call. The first refusal (in call order) is recorded; the caller then stops
 * sending and drains the calls in flight, which may still succeed.
 */
static struct {
        uint64_t *ids;                  /* ids[i] = the id of rule i, 0 if refused; or NULL */
        unsigned added;                 /* calls that succeeded */
        bool refused;
        unsigned refused_index;         /* the rule of the first refusal */
        char why[512];                  /* its error */
} inflight;

static void inflight_begin(uint64_t *ids) {
        inflight = (typeof(inflight)) { .ids = ids };
}

static void on_inflight_add(BfeEngine *e, int r, const BfeKey *key, uint64_t id, const BfeError *error,
                            void *userdata) {
        unsigned i = (unsigned) (uintptr_t) userdata;

        if (inflight.ids)
                inflight.ids[i] = r < 0 ? 0 : id;
        if (r >= 0) {
                inflight.added++;
                return;
        }
        if (inflight.refused)
                return;
        inflight.refused = true;
        inflight.refused_index = i;
        snprintf(inflight.why, sizeof(inflight.why), "%s%s%s", error->message[0] ? error->message : strerror(-r),
                 error->bus_name ? " — " : "", error->bus_name ?: "");
}

/* With --per-call N: the rules waiting for the next AddFilters call. */
static struct {
        RuleFilter *rules;
        BfeFilter *filters;
        uint64_t *ids;
        unsigned first, n;
} many;

/* AddFilters calls in flight (with --window > 1): enough for bfed to read one call while the next
 * is encoded here. */
#define MANY_IN_FLIGHT 4

/* Completes an asynchronous AddFilters call of the rules @userdata packs (first << 20 | n). */
static void on_many_done(BfeEngine *e, int r, const BfeError *error, void *userdata) {
        uint64_t packed = (uint64_t) (uintptr_t) userdata;
        unsigned first = (unsigned) (packed >> 20), n = (unsigned) (packed & 0xfffff);

        for (unsigned k = 0; k < n; k++)
                on_inflight_add(e, r, NULL, r < 0 || !inflight.ids ? 0 : inflight.ids[first + k], error,
                                (void *) (uintptr_t) (first + k));
}

/* One AddFilters call (bfe_filter_add_many, or _async with --window > 1) with the rules gathered
 * so far. */
static void many_send(void) {
        int r;

        if (many.n == 0)
                return;
        for (unsigned k = 0; k < many.n; k++)
                many.filters[k] = many.rules[k].f;
        if (arg.window > 1) {
                while (bfe_engine_pending_calls(engine) >= MANY_IN_FLIGHT) {
                        r = bfe_engine_wait(engine, UINT64_MAX);
                        if (r < 0)
                                fail("waiting for AddFilters replies", r);
                }
                _Static_assert(sizeof(uintptr_t) >= 8, "the rules of a call are packed into a pointer");
                r = bfe_filter_add_many_async(engine, many.filters, many.n,
                                              inflight.ids ? &inflight.ids[many.first] : NULL, on_many_done,
                                              (void *) (uintptr_t) ((uint64_t) many.first << 20 | many.n));
                if (r < 0)      /* not sent: as if refused */
                        on_many_done(engine, r, bfe_engine_last_error(engine),
                                     (void *) (uintptr_t) ((uint64_t) many.first << 20 | many.n));
                many.n = 0;
                return;
        }
        r = bfe_filter_add_many(engine, many.filters, many.n, many.ids);
        for (unsigned k = 0; k < many.n; k++)
                on_inflight_add(engine, r, NULL, r < 0 ? 0 : many.ids[k], bfe_engine_last_error(engine),
                                (void *) (uintptr_t) (many.first + k));
        many.n = 0;
}

/* AddFilter of rule @i, once there is room in the window; with --per-call, gathered into
 * AddFilters calls instead. */
static void inflight_add(unsigned i, uint32_t flags) {
        RuleFilter rf;
        uint64_t id = 0;
        int r;

        if (arg.per_call > 1) {
                if (!many.rules) {
                        many.rules = calloc(arg.per_call, sizeof(*many.rules));
                        many.filters = calloc(arg.per_call, sizeof(*many.filters));
                        many.ids = calloc(arg.per_call, sizeof(*many.ids));
                        if (!many.rules || !many.filters || !many.ids)
                                fail("allocating an AddFilters call", -ENOMEM);
                }
                if (many.n == 0)
                        many.first = i;
                (void) rule_filter(&many.rules[many.n++], i, flags);
                if (many.n == arg.per_call)
                        many_send();
                return;
        }
        if (arg.window <= 1) {
                r = bfe_filter_add(engine, rule_filter(&rf, i, flags), NULL, &id);
                on_inflight_add(engine, r, NULL, id, bfe_engine_last_error(engine), (void *) (uintptr_t) i);
                return;
        }
        while (bfe_engine_pending_calls(engine) >= arg.window) {
                r = bfe_engine_wait(engine, UINT64_MAX);
                if (r < 0)
                        fail("waiting for AddFilter replies", r);
        }
        r = bfe_filter_add_async(engine, rule_filter(&rf, i, flags), on_inflight_add, (void *) (uintptr_t) i);
        if (r < 0)      /* not sent: as if refused */
                on_inflight_add(engine, r, NULL, 0, bfe_engine_last_error(engine), (void *) (uintptr_t) i);
}

/* Waits for the replies of every call in flight. */
static void inflight_drain(void) {
        many_send();
        while (bfe_engine_pending_calls(engine) > 0) {
                int r = bfe_engine_wait(engine, UINT64_MAX);

                if (r < 0)
                        fail("waiting for AddFilter replies", r);
        }
}

/* P4's IKE MM policy: a permit at IKEEXT_V4 referencing the MM context. */
static BfeFilter mm_filter(void) {
        return (BfeFilter) {
                .name = (char *) "bench ike mm policy",
                .layer = (char *) "IKEEXT_V4",
                .action = BFE_ACTION_PERMIT,
                .provider_context_key = mm_context,
        };
}

static int add_mm_filter(uint64_t *ret_id) {
        BfeFilter f = mm_filter();

        return bfe_filter_add(engine, &f, NULL, ret_id);
}

static uint32_t filter_count(void) {
        uint32_t n;
        int r;

        r = bfe_engine_get_filter_count(engine, &n);
        if (r < 0)
                fail("reading FilterCount", r);
        return n;
}

/*
 * fill() - adds rules [@from, @to) one AddFilter call each, arg.window in flight, stopping early
 * at @deadline (monotonic ns, 0 = none) or at the first refusal (recorded in fill_error). Progress
 * goes to stderr every arg.progress_every filters sent.
 * Return: the number of fill filters in the database (== @to unless the deadline struck or the
 * daemon refused); fill_ids[0, that) are their ids. *ret_ns the time taken.
 */
static unsigned fill(unsigned from, unsigned to, uint64_t deadline, const char *label, uint64_t *ret_ns) {
        uint64_t t0, tchunk;
        unsigned i, n, ichunk = from;

        t0 = tchunk = now_ns();
        if (fill_error.refused) {
                *ret_ns = 0;
                return from;
        }
        inflight_begin(fill_ids);
        for (i = from; i < to && !inflight.refused; i++) {
                inflight_add(i, 0);
                if ((i + 1) % arg.progress_every == 0 || i + 1 == to) {
                        uint64_t t = now_ns();
                        unsigned chunk = i + 1 - ichunk;
                        double per = ns_to_ms(t - tchunk) / chunk;

                        fprintf(stderr, "  [%s] %u filters sent, %.1f s so far; the last %u at %.3f ms/add",
                                label, i + 1, ns_to_s(t - t0), chunk, per);
                        if (i + 1 < to)
                                fprintf(stderr, ", %u to go: %.0f s at that rate", to - i - 1,
                                        per * (to - i - 1) / 1000);
                        fputc('\n', stderr);
                        tchunk = t;
                        ichunk = i + 1;
                }
                /* the clock is read only now and then: it is cheap, but not free */
                if (deadline && (i + 1) % 128 == 0 && i + 1 < to && now_ns() >= deadline) {
                        fprintf(stderr, "  [%s] %u filters sent at the deadline, %.1f s\n", label, i + 1,
                                ns_to_s(now_ns() - t0));
                        i++;
                        break;
                }
        }
        inflight_drain();
        *ret_ns = now_ns() - t0;
        n = from + inflight.added;
        if (!inflight.refused)
                return n;

        /* The filters before the refused one are in; so may be those of the calls that were in
         * flight behind it. Gather their ids after the others. */
        fill_error.refused = true;
        fill_error.at = inflight.refused_index;
        snprintf(fill_error.message, sizeof(fill_error.message), "%s", inflight.why);
        fprintf(stderr, "  [%s] AddFilter of filter #%u REFUSED with %u filters in the database: %s\n",
                label, inflight.refused_index + 1, inflight.refused_index, fill_error.message);
        if (n > inflight.refused_index)
                fprintf(stderr, "  [%s] %u of the calls in flight behind it added their filters\n", label,
                        n - inflight.refused_index);
        for (unsigned j = inflight.refused_index + 1, k = inflight.refused_index; j < i; j++)
                if (fill_ids[j])
                        fill_ids[k++] = fill_ids[j];
        return n;
}

/* After a refusal, once: delete the last BACK_OFF fill filters, so that one more filter fits
 * again and the latency samples can run. A call that timed out (the daemon was busy for longer
 * than libbfe waits) may still be applied: the calls here are retried while they time out (for
 * 10 minutes at most), and the size is then the daemon's FilterCount. Return: the new size. */
static unsigned after_refusal(unsigned n) {
        uint32_t count;
        unsigned k, tries = 0;
        bool timed_out = false;
        int r;

        if (!fill_error.refused || fill_error.backed_off)
                return n;
        fill_error.backed_off = true;
        for (k = 0; k < BACK_OFF && n > 0; k++) {
                r = bfe_filter_delete_by_id(engine, fill_ids[--n]);
                while (r == -ETIMEDOUT && tries++ < 24) {
                        fprintf(stderr, "  DeleteFilterById timed out: the daemon is busy; trying again\n");
                        timed_out = true;
                        r = bfe_filter_delete_by_id(engine, fill_ids[n]);
                }
                if (r < 0)
                        fail("DeleteFilterById (back-off after a refusal)", r);
        }
        if (timed_out || strstr(fill_error.message, "timed out")) {
                r = bfe_engine_get_filter_count(engine, &count);
                if (r >= 0 && count >= fill_base_count) {
                        fprintf(stderr, "  the call that timed out was applied later: FilterCount %" PRIu32 "\n", count);
                        n = count - fill_base_count;
                }
        }
        fprintf(stderr, "  deleted the last %u filters after the refusal: measuring at %u\n", k, n);
        return n;
}

typedef struct Point {
        unsigned size;
        unsigned n;                     /* samples taken: fewer than asked if the daemon refused */
        Stats add, del;
        Stats shape_add[_SHAPE_MAX];    /* --mixed: AddFilter by the sample's shape */
        char error[512];
} Point;

/* One P3 sample on `engine`: AddFilter of filter @i, then its DeleteFilterById; their times in
 * *ret_add and *ret_del. A refused add: -errno, its message in @error. */
static int p3_sample(unsigned i, uint64_t *ret_add, uint64_t *ret_del, char *error, size_t size) {
        uint64_t id, t0, t1, t2;
        int r;

        t0 = now_ns();
        r = add_rule_filter(i, &id);
        t1 = now_ns();
        if (r < 0) {
                const BfeError *err = bfe_engine_last_error(engine);

                snprintf(error, size, "%s", err->message[0] ? err->message : strerror(-r));
                return r;
        }
        r = bfe_filter_delete_by_id(engine, id);
        t2 = now_ns();
        if (r < 0)
                fail("DeleteFilterById (P3 sample)", r);
        *ret_add = t1 - t0;
        *ret_del = t2 - t1;
        return 0;
}

/* The figures of @p from its @p->n samples @add and @del, of filters @first, @first + 1, …;
 * frees the samples. @who names the point in the progress lines. */
static void point_finish(Point *p, uint64_t *add, uint64_t *del, unsigned first, const char *who) {
        if (arg.mixed) {
                uint64_t *by = calloc(p->n + 1, sizeof(uint64_t));

                if (!by)
                        fail("allocating samples", -ENOMEM);
                for (unsigned sh = 0; sh < _SHAPE_MAX; sh++) {
                        size_t m = 0;

                        for (unsigned k = 0; k < p->n; k++)
                                if (mixed_shape(first + k) == sh)
                                        by[m++] = add[k];
                        p->shape_add[sh] = stats_of(by, m);
                }
                free(by);
                fprintf(stderr, "  [P3] %s %u filters, AddFilter median by shape: %s %.3f, %s %.3f, %s %.3f, %s %.3f ms\n",
                        who, p->size, shape_names[0], p->shape_add[0].median_ms, shape_names[1],
                        p->shape_add[1].median_ms, shape_names[2], p->shape_add[2].median_ms, shape_names[3],
                        p->shape_add[3].median_ms);
        }
        p->add = stats_of(add, p->n);
        p->del = stats_of(del, p->n);
        free(add);
        free(del);
        fprintf(stderr, "  [P3] %s %u filters: AddFilter median %.3f ms (p95 %.3f), DeleteFilterById median %.3f ms (p95 %.3f)\n",
                who, p->size, p->add.median_ms, p->add.p95_ms, p->del.median_ms, p->del.p95_ms);
}

static unsigned sample_next = SAMPLE_INDEX_BASE;       /* the filter of the next P3 sample */

/* P3: @n samples of one more AddFilter and its DeleteFilterById at the current size. */
static Point latency_point(unsigned size, unsigned n) {
        uint64_t *add = calloc(n, sizeof(uint64_t)), *del = calloc(n, sizeof(uint64_t));
        unsigned first = sample_next;
        Point p = { .size = size, .n = n };

        if (!add || !del)
                fail("allocating samples", -ENOMEM);
        for (unsigned k = 0; k < n; k++)
                if (p3_sample(sample_next++, &add[k], &del[k], p.error, sizeof(p.error)) < 0) {
                        fprintf(stderr, "  [P3] at %u filters: AddFilter sample %u of %u refused: %s\n", size, k + 1,
                                n, p.error);
                        p.n = k;
                        break;
                }
        point_finish(&p, add, del, first, "at");
        return p;
}

/*
 * P3 beside (--beside): @n samples at this daemon's size @size, each next to one of the same
 * filter on the daemon beside, which holds the small size @small. The two points then see
 * the machine as it is at the same moment: this shared machine moves a call's time by more
 * than the goal's margin over the minutes a fill to the large size takes (doc/benchmark.md,
 * run S), and points measured before and after that fill compared two moments, not two sizes.
 */
static void latency_beside(unsigned small, unsigned size, unsigned n, Point *ret_small, Point *ret_large) {
        uint64_t *add[2], *del[2];
        unsigned first = sample_next;
        Point p[2] = { { .size = small, .n = n }, { .size = size, .n = n } };
        BfeEngine *measured = engine;

        for (size_t d = 0; d < 2; d++) {
                add[d] = calloc(n, sizeof(uint64_t));
                del[d] = calloc(n, sizeof(uint64_t));
                if (!add[d] || !del[d])
                        fail("allocating samples", -ENOMEM);
        }
        for (unsigned k = 0; k < n; k++, sample_next++)
                for (size_t step = 0; step < 2; step++) {
                        /* in turns of A B, B A: each daemon's sample follows the other's work as
                         * often as it precedes it (replies go before a call's signals and the
                         * like, so the daemon called before is often still busy) */
                        size_t d = step ^ (k & 1);

                        engine = d == 0 ? engine_beside : measured;
                        if (p3_sample(sample_next, &add[d][k], &del[d][k], p[d].error, sizeof(p[d].error)) < 0) {
                                engine = measured;
                                fprintf(stderr, "  [P3] beside, %s: AddFilter sample %u of %u refused: %s\n",
                                        d == 0 ? "the daemon beside" : "this daemon", k + 1, n, p[d].error);
                                p[0].n = p[1].n = k;
                                k = n;  /* ends both loops */
                                break;
                        }
                }
        engine = measured;
        point_finish(&p[0], add[0], del[0], first, "beside, the daemon beside at");
        point_finish(&p[1], add[1], del[1], first, "beside, this daemon at");
        *ret_small = p[0];
        *ret_large = p[1];
}

/* ---- P4: the exemptions -------------------------------------------------------------------- */

/* Rules of our table whose comment names the IKE/AuthIP exemptions, counted from `nft list
 * table` (we run in the daemon's network namespace). -1 if nft could not be run. */
static int nft_exemption_rules(void) {
        char cmd[128], *line = NULL;
        size_t sz = 0;
        int n = 0;
        FILE *f;

        snprintf(cmd, sizeof(cmd), "nft list table inet %s 2>/dev/null", table);
        f = popen(cmd, "re");
        if (!f)
                return -1;
        while (getline(&line, &sz, f) >= 0)
                if (strstr(line, "IKE/AuthIP exemption") && strstr(line, "accept"))
                        n++;
        free(line);
        if (pclose(f) != 0)
                return -1;
        return n;
}

static bool exemptions_active(void) {
        bool b;
        int r;

        r = bfe_engine_get_exemptions_active(engine, &b);
        if (r < 0)
                fail("reading ExemptionsActive", r);
        return b;
}

/* One add/delete of the MM filter, outside any timing, checking that the add installs the
 * exemptions and the delete removes them, from the engine's view and from the kernel's. */
static bool verify_exemptions(char *error, size_t size) {
        uint32_t before, during;
        int in_kernel = -1, after_kernel = -1;
        uint64_t id;
        bool active, after_active, ok;
        int r;

        before = filter_count();
        r = add_mm_filter(&id);
        if (r < 0) {
                const BfeError *err = bfe_engine_last_error(engine);

                snprintf(error, size, "AddFilter of the IKE MM policy refused: %s",
                         err->message[0] ? err->message : strerror(-r));
                printf("P4 check: %s — WRONG\n", error);
                return false;
        }
        active = exemptions_active();
        during = filter_count();
        if (arg.verify_nft)
                in_kernel = nft_exemption_rules();
        r = bfe_filter_delete_by_id(engine, id);
        if (r < 0)
                fail("DeleteFilterById (IKE MM policy)", r);
        after_active = exemptions_active();
        if (arg.verify_nft)
                after_kernel = nft_exemption_rules();

        ok = active && !after_active && during - before >= 2;
        if (arg.verify_nft)
                ok = ok && in_kernel > 0 && after_kernel == 0;
        printf("P4 check: after AddFilter(MM): ExemptionsActive=%s, FilterCount +%" PRIu32
               " (MM filter + engine-owned exemptions)", active ? "true" : "false", during - before);
        if (arg.verify_nft)
                printf(", %d exemption rules in `nft list table inet %s`", in_kernel, table);
        printf("; after DeleteFilterById: ExemptionsActive=%s", after_active ? "true" : "false");
        if (arg.verify_nft)
                printf(", %d exemption rules left", after_kernel);
        else
                printf(" (kernel not inspected: no --verify-nft)");
        printf(" — %s\n", ok ? "OK" : "WRONG");
        fflush(stdout);
        return ok;
}

typedef struct MmPoint {
        unsigned size;
        bool verified;
        Stats add, del;                 /* busy-polling the reply */
        Stats add_blocking;             /* the same cycles with a blocking wait (sd_bus_call), for reference */
        Stats bare;                     /* a FilterCount read: the bare D-Bus round trip to bfed */
        double cpu_us;                  /* bfed's CPU time per add/delete cycle */
        double bus_cpu_us;              /* dbus-daemon's */
        char error[512];
} MmPoint;

/*
 * P4's calls wait for their replies busy-polling the connection (bfe_engine_process() in a loop),
 * as P7's ends do: a blocking wait adds the wake-up of an idle CPU to every sample, which on this
 * kind of machine is as long as a good part of what is measured. bfed itself runs as it always
 * does, on its event loop.
 */
static struct {
        bool done;
        int r;
        uint64_t id;
} busy;

static void on_busy_add(BfeEngine *e, int r, const BfeKey *key, uint64_t id, const BfeError *error, void *userdata) {
        busy.done = true;
        busy.r = r;
        busy.id = id;
}

static void on_busy_call(BfeEngine *e, int r, const BfeError *error, void *userdata) {
        busy.done = true;
        busy.r = r;
}

static int busy_wait(int r) {
        while (r >= 0 && !busy.done)
                r = bfe_engine_process(engine);
        return r < 0 ? r : busy.r;
}

static int busy_add_mm_filter(uint64_t *ret_id) {
        BfeFilter f = mm_filter();
        int r;

        busy = (typeof(busy)) {};
        r = busy_wait(bfe_filter_add_async(engine, &f, on_busy_add, NULL));
        *ret_id = busy.id;
        return r;
}

static int busy_delete(uint64_t id) {
        busy = (typeof(busy)) {};
        return busy_wait(bfe_filter_delete_by_id_async(engine, id, on_busy_call, NULL));
}

static MmPoint mm_point(unsigned size, unsigned n) {
        uint64_t *add = calloc(n, sizeof(uint64_t)), *del = calloc(n, sizeof(uint64_t));
        MmPoint p = { .size = size };

        if (!add || !del)
                fail("allocating samples", -ENOMEM);
        uint64_t cpu0, bus_cpu0;

        p.verified = verify_exemptions(p.error, sizeof(p.error));
        if (p.error[0])
                n = 0;
        /* the floor under each call: to bfed and back through the bus, with nothing to do there */
        for (unsigned k = 0; k < n; k++) {
                uint64_t t0 = now_ns();

                (void) filter_count();
                add[k] = now_ns() - t0;
        }
        p.bare = stats_of(add, n);
        cpu0 = cpu_ns(arg.pid);
        bus_cpu0 = cpu_ns(arg.bus_pid);
        for (unsigned k = 0; k < n; k++) {
                uint64_t id, t0, t1, t2;
                int r;

                t0 = now_ns();
                r = busy_add_mm_filter(&id);
                t1 = now_ns();
                if (r < 0)
                        fail("AddFilter (IKE MM policy)", r);
                r = busy_delete(id);
                t2 = now_ns();
                if (r < 0)
                        fail("DeleteFilterById (IKE MM policy)", r);
                add[k] = t1 - t0;
                del[k] = t2 - t1;
        }
        p.cpu_us = n > 0 && arg.pid > 0 ? (double) (cpu_ns(arg.pid) - cpu0) / 1000 / n : NAN;
        p.bus_cpu_us = n > 0 && arg.bus_pid > 0 ? (double) (cpu_ns(arg.bus_pid) - bus_cpu0) / 1000 / n : NAN;
        p.add = stats_of(add, n);
        p.del = stats_of(del, n);
        for (unsigned k = 0; k < n; k++) {
                uint64_t id, t0;
                int r;

                t0 = now_ns();
                r = add_mm_filter(&id);
                add[k] = now_ns() - t0;
                if (r < 0)
                        fail("AddFilter (IKE MM policy)", r);
                r = bfe_filter_delete_by_id(engine, id);
                if (r < 0)
                        fail("DeleteFilterById (IKE MM policy)", r);
        }
        p.add_blocking = stats_of(add, n);
        free(add);
        free(del);
        fprintf(stderr, "  [P4] at %u filters: MM AddFilter median %.3f ms p95 %.3f; delete median %.3f ms p95 %.3f; "
                "bfed CPU %.0f us a cycle; bare round trip (FilterCount) median %.3f ms\n",
                size, p.add.median_ms, p.add.p95_ms, p.del.median_ms, p.del.p95_ms, p.cpu_us, p.bare.median_ms);
        return p;
}

/* ---- P2 (issue 4): one transaction ------------------------------------------------------- */

static const char *verdict(bool pass);

/* Rules of our table that carry a filter comment, counted from `nft list table`. -1 if nft could
 * not be run. Slow at 100,000 rules (seconds): only ever outside the timing. */
static long nft_filter_rules(void) {
        char cmd[128], *line = NULL;
        size_t sz = 0;
        long n = 0;
        FILE *f;

        snprintf(cmd, sizeof(cmd), "nft list table inet %s 2>/dev/null", table);
        f = popen(cmd, "re");
        if (!f)
                return -1;
        while (getline(&line, &sz, f) >= 0)
                if (strstr(line, "comment \"filter ") && strstr(line, "bench "))
                        n++;
        free(line);
        if (pclose(f) != 0)
                return -1;
        return n;
}

/*
 * P2: a session (not dynamic, no limit on waiting for the write lock), BeginTransaction(0),
 * filters 0 … arg.p2-1 with AddFilter on the session object (arg.window in flight),
 * CommitTransaction. Timed from before Begin to the Commit reply; the Commit is timed alone too.
 * The adds stop early at arg.p2_budget seconds (the Commit then sends the filters added so far)
 * or at a refusal (the calls in flight are waited for first).
 * Return: the exit status.
 */
static int run_p2(void) {
        BfeSessionOptions o = {
                .name = "bfed-bench P2",
                .description = "one transaction of many filters",
                .txn_wait_timeout_msec = BFE_INFINITE,
        };
        uint32_t flags = arg.persistent ? BFE_FLAG_PERSISTENT : 0, base_count, after_count;
        uint64_t t0, t_begun, t_adds, t_end, tchunk, deadline, mid_commits = 0;
        unsigned n_txn = 1;
        long long rss_before, rss_after;
        unsigned i, n, ichunk = 0;
        bool budget_hit = false, refused = false, checks_ok;
        long in_kernel = -1;
        char why[512] = "";
        char *s = NULL;
        int r;

        r = bfe_engine_open_session(NULL, &o, &engine);
        if (r < 0)
                fail("connecting to bfed and opening a session (bfe_engine_open_session)", r);
        if (bfe_engine_get_table(engine, &s) >= 0 && s) {
                snprintf(table, sizeof(table), "%s", s);
                free(s);
        }
        if (arg.pid <= 0)
                arg.pid = owner_pid("org.bfed.Engine1");
        arg.bus_pid = owner_pid("org.freedesktop.DBus");
        rss_before = rss_bytes(arg.pid);
        base_count = filter_count();
        printf("bfed-bench: bfed pid %ld, table inet %s, %" PRIu32 " filters at start, VmRSS %.1f MiB, session %s\n",
               arg.pid, table, base_count, rss_before / 1048576.0, bfe_engine_get_session_path(engine) ?: "?");
        fprintf(stderr, "P2: %u %sfilters in one transaction (adds budget %u s)\n", arg.p2,
                arg.persistent ? "persistent " : "", arg.p2_budget);

        t0 = now_ns();
        r = bfe_transaction_begin(engine, 0);
        if (r < 0)
                fail("BeginTransaction", r);
        if (arg.mixed)
                mixed_setup();  /* two AddSublayer calls, inside the timing */
        t_begun = tchunk = now_ns();
        deadline = t_begun + (uint64_t) arg.p2_budget * NSEC_PER_SEC;
        inflight_begin(NULL);
        for (i = 0; i < arg.p2 && !inflight.refused; i++) {
                inflight_add(i, flags);
                if ((i + 1) % arg.progress_every == 0) {
                        uint64_t t = now_ns();

                        fprintf(stderr, "  [P2] %u filters sent in the transaction, %.1f s so far; the last %u at %.3f ms/add\n",
                                i + 1, ns_to_s(t - t_begun), i + 1 - ichunk, ns_to_ms(t - tchunk) / (i + 1 - ichunk));
                        tchunk = t;
                        ichunk = i + 1;
                }
                if (arg.p2_batch && (i + 1) % arg.p2_batch == 0 && i + 1 < arg.p2) {
                        uint64_t tc;

                        inflight_drain();
                        tc = now_ns();
                        r = bfe_transaction_commit(engine);
                        if (r < 0)
                                fail("CommitTransaction (of one batch)", r);
                        mid_commits += now_ns() - tc;
                        r = bfe_transaction_begin(engine, 0);
                        if (r < 0)
                                fail("BeginTransaction (of the next batch)", r);
                        n_txn++;
                }
                if ((i + 1) % 128 == 0 && i + 1 < arg.p2 && now_ns() >= deadline) {
                        fprintf(stderr, "  [P2] %u filters sent at the budget: committing those\n", i + 1);
                        budget_hit = true;
                        break;
                }
        }
        inflight_drain();
        n = inflight.added;
        refused = inflight.refused;
        if (refused) {
                snprintf(why, sizeof(why), "%s", inflight.why);
                fprintf(stderr, "  [P2] AddFilter #%u REFUSED in the transaction: %s\n", inflight.refused_index + 1, why);
        }
        t_adds = now_ns();
        fprintf(stderr, "  [P2] %u AddFilter calls took %.1f s; CommitTransaction…\n", n, ns_to_s(t_adds - t_begun));
        r = bfe_transaction_commit(engine);
        t_end = now_ns();
        if (r < 0) {
                const BfeError *err = bfe_engine_last_error(engine);

                printf("P2  FAIL: CommitTransaction of %u filters refused after %.3f s: %s%s%s\n", n,
                       ns_to_s(t_end - t_adds), err->message[0] ? err->message : strerror(-r),
                       err->bus_name ? " — " : "", err->bus_name ?: "");
                bfe_engine_close(engine);
                return EXIT_FAILURE;
        }
        fprintf(stderr, "  [P2] CommitTransaction took %.3f s\n", ns_to_s(t_end - t_adds));

        /* checks, outside the timing */
        rss_after = rss_bytes(arg.pid);
        after_count = filter_count();
        if (arg.verify_nft && !arg.mixed)
                in_kernel = nft_filter_rules();
        checks_ok = !refused && after_count == base_count + n &&
                    (!arg.verify_nft || arg.mixed || in_kernel == (long) n);

        {
                double total = ns_to_s(t_end - t0), commit = ns_to_s(t_end - t_adds), adds = ns_to_s(t_adds - t_begun - mid_commits);
                double goal_p2 = arg.mixed ? GOAL_P2_MIXED_RATIO : GOAL_P2_RATIO;
                char how[64];
                const char *note = budget_hit ? " (BUDGET: size reached, not the goal's size)" :
                                   refused ? " (REFUSED: size reached, not the goal's size)" : "";

                printf("\n");
                if (refused)
                        printf("FAIL the daemon refused AddFilter #%u inside the transaction: %s\n",
                               inflight.refused_index + 1, why);
                if (n_txn > 1 || arg.p2_batch) {        /* the P6 setup's, even when one transaction took all */
                        printf("P2b %u %sAddFilter in %u transactions of at most %u, %u in flight (not the P2 figure): first Begin →"
                               " last Commit reply %.3f s = adds %.3f s (%.3f ms/add) + %u Commits %.3f s (the last %.3f s)%s\n",
                               n, arg.persistent ? "persistent " : "", n_txn, arg.p2_batch, arg.window, total, adds,
                               n ? adds * 1000 / n : 0.0, n_txn, commit + ns_to_s(mid_commits), commit, note);
                        if (rss_before >= 0 && rss_after >= 0 && n > 0)
                                printf("P5' VmRSS before %.1f MiB, after %u filters %.1f MiB → %.0f bytes/filter   goal <= %.0f   %s\n",
                                       rss_before / 1048576.0, n, rss_after / 1048576.0,
                                       (double) (rss_after - rss_before) / n, GOAL_P5_BYTES,
                                       verdict((double) (rss_after - rss_before) / n <= GOAL_P5_BYTES));
                        goto checks;
                }
                if (arg.per_call > 1)
                        snprintf(how, sizeof(how), "filters in AddFilters calls of %u", arg.per_call);
                else
                        snprintf(how, sizeof(how), "AddFilter calls, %u in flight", arg.window);
                printf("P2  %u %s%s, in ONE transaction: Begin → Commit reply %.3f s = Begin %.3f ms"
                       " + %u adds %.3f s (%.3f ms/add) + Commit %.3f s%s\n",
                       n, arg.persistent ? "persistent " : "", how, total, ns_to_ms(t_begun - t0), n, adds,
                       n ? ns_to_ms(t_adds - t_begun) / n : 0.0, commit, note);
                if (arg.nft_f_s > 0 && n != arg.nft_f_n)
                        printf("P2  RATIO n/a: %u filters here, the nft -f reference has %u rules (%.3f s)\n", n,
                               arg.nft_f_n, arg.nft_f_s);
                else if (arg.nft_f_s > 0) {
                        printf("P2  RATIO bfed/nft -f (%u rules, %.3f s) = %.2fx   goal <= %.2fx   %s%s\n",
                               arg.nft_f_n, arg.nft_f_s, total / arg.nft_f_s, goal_p2,
                               verdict(total / arg.nft_f_s <= goal_p2 && !budget_hit && !refused), note);
                        printf("P2  (Commit alone / nft -f = %.2fx, no goal)\n", commit / arg.nft_f_s);
                }
                if (rss_before >= 0 && rss_after >= 0 && n > 0)
                        printf("P2  VmRSS before %.1f MiB, after %.1f MiB → %.0f bytes/filter (cf. P5, goal <= %.0f)\n",
                               rss_before / 1048576.0, rss_after / 1048576.0,
                               (double) (rss_after - rss_before) / n, GOAL_P5_BYTES);
        checks:
                printf("checks: FilterCount %" PRIu32 " → %" PRIu32 " (+%u expected)", base_count, after_count, n);
                if (arg.verify_nft && !arg.mixed)
                        printf(", %ld bench rules in `nft list table inet %s`", in_kernel, table);
                printf(": %s\n", checks_ok ? "OK" : "WRONG");
                if (arg.nft_f_s > 0 && n_txn == 1 && !arg.p2_batch && n == arg.nft_f_n)
                        printf("\nSUMMARY P2 %6u %s in one transaction (s) %9.3f   nft -f %6.3f s   %6.2fx   %s (goal <= %.2fx)%s\n",
                               n, arg.persistent ? "persistent" : "filters   ", total, arg.nft_f_s,
                               total / arg.nft_f_s,
                               verdict(total / arg.nft_f_s <= goal_p2 && !budget_hit && !refused), goal_p2, note);
        }
        bfe_engine_close(engine);
        return checks_ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void help(void) {
        printf("Usage: bfed-bench [OPTIONS]\n"
               "Benchmarks a running bfed (DBUS_SYSTEM_BUS_ADDRESS selects the bus). The entry point is\n"
               "scripts/bench, which starts the daemon and measures the nft baselines.\n\n"
               "  --pid PID              bfed's pid (default: asked from the bus)\n"
               "  --verify-nft           check the exemption rules with `nft list table` (run in bfed's netns)\n"
               "  --p1 N                 P1: filters added from empty (default 10000)\n"
               "  --small N              P3: the small size (default 1000, must be <= --p1)\n"
               "  --large N              P3/P5: the large size (default 100000)\n"
               "  --samples N            P3: samples per size (default 200)\n"
               "  --mm-cycles N          P4: add/delete cycles (default 200)\n"
               "  --fill-budget SEC      stop the fill to --large after SEC seconds (default 300)\n"
               "  --nft-add-rule SEC     baseline: time of the `nft add rule` sample\n"
               "  --nft-add-rule-n N     baseline: invocations in that sample (default 500)\n"
               "  --nft-f SEC            reference: time of `nft -f` with the large rule set\n"
               "  --nft-f-n N            reference: rules in that file (default 100000)\n"
               "  --p2 N                 instead of the above: P2, N filters in one transaction of a session\n"
               "  --persistent           P2: the filters are persistent (Flags 0x1)\n"
               "  --p2-budget SEC        P2: stop adding after SEC s and commit those (default 300)\n"
               "  --p2-batch N           P2: commit every N filters (several transactions; not the P2 figure)\n"
               "  --per-call N           P2: N filters per AddFilters call (bfe_filter_add_many) instead of\n"
               "                         one AddFilter call each (at most 100000); with --window > 1, 4 such\n"
               "                         calls in flight (bfe_filter_add_many_async)\n"
               "  --window N             P1, the fill and P2: AddFilter calls in flight, each still one D-Bus\n"
               "                         call (default 64; 1 = one synchronous call after the other; a system\n"
               "                         bus refuses more than 128 awaiting a reply per connection)\n"
               "  --mixed                the filters are the mixed policy of issue 12 (prefixes, port ranges,\n"
               "                         peer tuples, IPsec callouts; three sublayers; automatic and explicit\n"
               "                         weights) instead of the homogeneous one\n"
               "  --emit-nft FILE        write the first --emit-n N filters (with --mixed, of the mixed policy)\n"
               "                         as plain nft rules (table inet benchref_f) and exit\n"
               "  --add-last ADDR:PORT   add P7's last filter (udp to PORT from ADDR, permit, weight 0) and exit\n"
               "  --beside SOCKET        P3's figure: the small point on the bfed whose private socket is SOCKET,\n"
               "                         filled to --small here first; after the fill to --large, its samples\n"
               "                         and this daemon's of the same filters in turns (A B, B A)\n");
}

static unsigned parse_unsigned(const char *s, const char *opt) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v > UINT32_MAX) {
                fprintf(stderr, "bfed-bench: %s: not a number: '%s'\n", opt, s);
                exit(2);
        }
        return (unsigned) v;
}

static double parse_double(const char *s, const char *opt) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || v < 0) {
                fprintf(stderr, "bfed-bench: %s: not a duration: '%s'\n", opt, s);
                exit(2);
        }
        return v;
}

static void parse_args(int argc, char **argv) {
        enum { O_PID = 256, O_VERIFY, O_P1, O_SMALL, O_LARGE, O_SAMPLES, O_MM, O_BUDGET, O_NAR, O_NARN, O_NF, O_NFN, O_P2, O_PERSISTENT, O_P2_BUDGET, O_P2_BATCH, O_WINDOW, O_PER_CALL,
               O_MIXED, O_EMIT_NFT, O_EMIT_N, O_ADD_LAST, O_BESIDE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "pid", required_argument, NULL, O_PID },
                { "verify-nft", no_argument, NULL, O_VERIFY },
                { "p1", required_argument, NULL, O_P1 },
                { "small", required_argument, NULL, O_SMALL },
                { "large", required_argument, NULL, O_LARGE },
                { "samples", required_argument, NULL, O_SAMPLES },
                { "mm-cycles", required_argument, NULL, O_MM },
                { "fill-budget", required_argument, NULL, O_BUDGET },
                { "nft-add-rule", required_argument, NULL, O_NAR },
                { "nft-add-rule-n", required_argument, NULL, O_NARN },
                { "nft-f", required_argument, NULL, O_NF },
                { "nft-f-n", required_argument, NULL, O_NFN },
                { "p2", required_argument, NULL, O_P2 },
                { "persistent", no_argument, NULL, O_PERSISTENT },
                { "p2-budget", required_argument, NULL, O_P2_BUDGET },
                { "p2-batch", required_argument, NULL, O_P2_BATCH },
                { "window", required_argument, NULL, O_WINDOW },
                { "per-call", required_argument, NULL, O_PER_CALL },
                { "mixed", no_argument, NULL, O_MIXED },
                { "emit-nft", required_argument, NULL, O_EMIT_NFT },
                { "emit-n", required_argument, NULL, O_EMIT_N },
                { "add-last", required_argument, NULL, O_ADD_LAST },
                { "beside", required_argument, NULL, O_BESIDE },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        exit(0);
                case O_PID:
                        arg.pid = parse_unsigned(optarg, "--pid");
                        break;
                case O_VERIFY:
                        arg.verify_nft = true;
                        break;
                case O_P1:
                        arg.p1_count = parse_unsigned(optarg, "--p1");
                        break;
                case O_SMALL:
                        arg.small = parse_unsigned(optarg, "--small");
                        break;
                case O_LARGE:
                        arg.large = parse_unsigned(optarg, "--large");
                        break;
                case O_SAMPLES:
                        arg.samples = parse_unsigned(optarg, "--samples");
                        break;
                case O_MM:
                        arg.mm_cycles = parse_unsigned(optarg, "--mm-cycles");
                        break;
                case O_BUDGET:
                        arg.fill_budget = parse_unsigned(optarg, "--fill-budget");
                        break;
                case O_NAR:
                        arg.nft_add_rule_s = parse_double(optarg, "--nft-add-rule");
                        break;
                case O_NARN:
                        arg.nft_add_rule_n = parse_unsigned(optarg, "--nft-add-rule-n");
                        break;
                case O_NF:
                        arg.nft_f_s = parse_double(optarg, "--nft-f");
                        break;
                case O_NFN:
                        arg.nft_f_n = parse_unsigned(optarg, "--nft-f-n");
                        break;
                case O_P2:
                        arg.p2 = parse_unsigned(optarg, "--p2");
                        break;
                case O_PERSISTENT:
                        arg.persistent = true;
                        break;
                case O_P2_BUDGET:
                        arg.p2_budget = parse_unsigned(optarg, "--p2-budget");
                        break;
                case O_P2_BATCH:
                        arg.p2_batch = parse_unsigned(optarg, "--p2-batch");
                        break;
                case O_PER_CALL:
                        arg.per_call = parse_unsigned(optarg, "--per-call");
                        if (arg.per_call > 100000) {
                                fprintf(stderr, "bfed-bench: --per-call is at most 100000 (bfed's AddFilters)\n");
                                exit(2);
                        }
                        break;
                case O_WINDOW:
                        arg.window = parse_unsigned(optarg, "--window");
                        break;
                case O_MIXED:
                        arg.mixed = true;
                        break;
                case O_EMIT_NFT:
                        arg.emit_nft = optarg;
                        break;
                case O_EMIT_N:
                        arg.emit_n = parse_unsigned(optarg, "--emit-n");
                        break;
                case O_ADD_LAST:
                        arg.add_last = optarg;
                        break;
                case O_BESIDE:
                        arg.beside = optarg;
                        break;
                default:
                        exit(2);
                }
        if (optind < argc) {
                fprintf(stderr, "bfed-bench: unexpected argument '%s'\n", argv[optind]);
                exit(2);
        }
        if (arg.window == 0) {
                fprintf(stderr, "bfed-bench: --window must be at least 1\n");
                exit(2);
        }
        if (arg.p2 > 0) {
                if (arg.p2 >= SAMPLE_INDEX_BASE) {
                        fprintf(stderr, "bfed-bench: --p2 must be below %u\n", SAMPLE_INDEX_BASE);
                        exit(2);
                }
                if (arg.progress_every > arg.p2 / 5 && arg.p2 >= 5)
                        arg.progress_every = arg.p2 / 5;
                return;
        }
        if (arg.persistent) {
                fprintf(stderr, "bfed-bench: --persistent goes with --p2\n");
                exit(2);
        }
        if (arg.small == 0 || arg.small > arg.p1_count || arg.p1_count > arg.large || arg.samples == 0 ||
            arg.mm_cycles == 0 || arg.nft_add_rule_n == 0 || arg.nft_f_n == 0 || arg.large >= SAMPLE_INDEX_BASE) {
                fprintf(stderr, "bfed-bench: need 0 < --small <= --p1 <= --large < %u and non-zero counts\n",
                        SAMPLE_INDEX_BASE);
                exit(2);
        }
        if (arg.progress_every > arg.large / 5 && arg.large >= 5)
                arg.progress_every = arg.large / 5;
}

static const char *verdict(bool pass) {
        return pass ? "PASS" : "MISS";
}

/* --beside: connects to the daemon beside, over its private socket only (where that fails libbfe
 * would take the bus, whose bfed is the measured one), and fills it to the small size with the
 * filters the measured daemon gets first (its sublayers too, with --mixed). */
static void beside_setup(void) {
        const char *env = getenv("BFE_PRIVATE_SOCKET");
        char *saved = env ? strdup(env) : NULL;
        BfeEngine *measured = engine;
        uint64_t t;
        unsigned n;
        int r;

        if ((env && !saved) || setenv("BFE_PRIVATE_SOCKET", arg.beside, 1) < 0)
                fail("setting BFE_PRIVATE_SOCKET", -ENOMEM);
        r = bfe_engine_open(NULL, &engine_beside);
        if (saved ? setenv("BFE_PRIVATE_SOCKET", saved, 1) < 0 : unsetenv("BFE_PRIVATE_SOCKET") < 0)
                fail("restoring BFE_PRIVATE_SOCKET", -errno);
        free(saved);
        if (r < 0)
                fail("connecting to the bfed beside (--beside)", r);
        if (!bfe_engine_is_private(engine_beside)) {
                fprintf(stderr, "bfed-bench: --beside %s: not bfed's private socket\n", arg.beside);
                exit(1);
        }
        engine = engine_beside;
        if (arg.mixed)
                mixed_setup();
        n = fill(0, arg.small, 0, "beside", &t);
        engine = measured;
        if (n != arg.small)
                fail("filling the bfed beside (--beside)", -EIO);
        fprintf(stderr, "beside: the bfed of %s holds %u filters (%.1f s)\n", arg.beside, n, ns_to_s(t));
}

int main(int argc, char **argv) {
        uint64_t t_small, t_rest, t_fill, p1_ns;
        unsigned n, n_p1, p1_added;
        bool p1_done;
        long long rss_empty, rss_p1, rss_large;
        unsigned reached;
        uint32_t base_count;
        Point p3_small, p3_p1, p3_large, beside_small = {}, beside_large = {};
        MmPoint p4_empty, p4_large;
        uint64_t cpu_p1, cpu_rest, bus_cpu_p1, bus_cpu_rest;
        uint64_t t_bus = 0, cpu_bus = 0, bus_cpu_bus = 0;      /* P1's calls through the bus */
        unsigned n_bus = 0;
        char *s = NULL;
        bool budget_hit, checks_ok;
        int r;

        parse_args(argc, argv);
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (arg.emit_nft) {
                r = emit_nft(arg.emit_nft, arg.emit_n);
                if (r < 0)
                        fail("writing the nft rules", r);
                return EXIT_SUCCESS;
        }
        if (arg.add_last) {
                r = add_last(arg.add_last);
                if (r < 0) {
                        fprintf(stderr, "bfed-bench: --add-last: ADDR:PORT, not '%s'\n", arg.add_last);
                        return 2;
                }
                return EXIT_SUCCESS;
        }
        if (arg.p2 > 0)
                return run_p2();
        /* the fill, then P1 once more through the bus (below) */
        fill_ids = calloc((size_t) arg.large + arg.p1_count, sizeof(uint64_t));
        if (!fill_ids)
                fail("allocating", -ENOMEM);
        setvbuf(stdout, NULL, _IOLBF, 0);

        r = bfe_engine_open(NULL, &engine);
        if (r < 0)
                fail("connecting to bfed (bfe_engine_open)", r);
        printf("bfed-bench: calls go %s\n", bfe_engine_is_private(engine) ?
               "over bfed's private socket (libbfe's way for root; dbus-daemon only relays the signals of others)" :
               "through dbus-daemon (the system bus)");
        if (bfe_engine_get_table(engine, &s) >= 0 && s) {
                snprintf(table, sizeof(table), "%s", s);
                free(s);
        }
        if (arg.pid <= 0)
                arg.pid = owner_pid("org.bfed.Engine1");
        arg.bus_pid = owner_pid("org.freedesktop.DBus");
        rss_empty = rss_bytes(arg.pid);
        base_count = fill_base_count = filter_count();
        printf("bfed-bench: bfed pid %ld, table inet %s, %" PRIu32 " filters at start, VmRSS %.1f MiB\n",
               arg.pid, table, base_count, rss_empty / 1048576.0);
        if (rss_empty < 0)
                printf("bfed-bench: cannot read /proc/%ld/status: P5 will be n/a\n", arg.pid);

        /* The IKE MM provider context the P4 policy filters reference, added once. */
        {
                BfeProviderContext c = {
                        .name = (char *) "bench ike main mode",
                        .type = BFE_CONTEXT_IPSEC_IKE_MM,
                };

                r = bfe_provider_context_add(engine, &c, &mm_context, NULL);
                if (r < 0)
                        fail("AddProviderContext (type 5)", r);
        }
        if (arg.mixed)
                mixed_setup();
        if (arg.beside)
                beside_setup();

        /* P4 on an empty database. */
        fprintf(stderr, "P4: %u IKE MM policy add/delete cycles, empty database\n", arg.mm_cycles);
        p4_empty = mm_point(0, arg.mm_cycles);

        /* P1, with a pause at the small size for the first P3 point (which leaves the
         * database as it found it: each sample adds one filter and deletes it). */
        fprintf(stderr, "P1: adding %u filters, one AddFilter each, %u in flight\n", arg.p1_count, arg.window);
        cpu_p1 = cpu_ns(arg.pid);
        bus_cpu_p1 = cpu_ns(arg.bus_pid);
        n = fill(0, arg.small, 0, "P1", &t_small);
        cpu_p1 = cpu_ns(arg.pid) - cpu_p1;
        bus_cpu_p1 = cpu_ns(arg.bus_pid) - bus_cpu_p1;
        n = after_refusal(n);
        fprintf(stderr, "P3: %u samples at %u filters\n", arg.samples, n);
        p3_small = latency_point(n, arg.samples);
        cpu_rest = cpu_ns(arg.pid);
        bus_cpu_rest = cpu_ns(arg.bus_pid);
        n = fill(n, arg.p1_count, 0, "P1", &t_rest);
        cpu_p1 += cpu_ns(arg.pid) - cpu_rest;
        bus_cpu_p1 += cpu_ns(arg.bus_pid) - bus_cpu_rest;
        p1_ns = t_small + t_rest;
        p1_done = !fill_error.refused;
        n = n_p1 = after_refusal(n);
        rss_p1 = rss_bytes(arg.pid);
        fprintf(stderr, "P3: %u samples at %u filters\n", arg.samples, n);
        p3_p1 = latency_point(n, arg.samples);

        /* The fill to the large size, bounded by the budget. */
        fprintf(stderr, "fill: %u → %u filters, budget %u s\n", n, arg.large, arg.fill_budget);
        reached = fill(n, arg.large, now_ns() + (uint64_t) arg.fill_budget * NSEC_PER_SEC, "fill", &t_fill);
        reached = after_refusal(reached);
        budget_hit = reached < arg.large;
        if (budget_hit)
                fprintf(stderr, "fill: %s at %u filters: P3/P5 are measured there\n",
                        fill_error.refused ? "the daemon refused a filter" : "the budget ran out", reached);
        rss_large = rss_bytes(arg.pid);
        fprintf(stderr, "P3: %u samples at %u filters\n", arg.samples, reached);
        p3_large = latency_point(reached, arg.samples);
        if (arg.beside) {
                fprintf(stderr, "P3: %u samples at %u filters, in turns with one at %u on the bfed beside\n",
                        arg.samples, reached, arg.small);
                latency_beside(arg.small, reached, arg.samples, &beside_small, &beside_large);
        }
        fprintf(stderr, "P4: %u IKE MM policy add/delete cycles at %u filters\n", arg.mm_cycles, reached);
        p4_large = mm_point(reached, arg.mm_cycles);
        checks_ok = p4_empty.verified && p4_large.verified && filter_count() == base_count + reached &&
                    !fill_error.refused && p3_small.n == arg.samples && p3_p1.n == arg.samples &&
                    p3_large.n == arg.samples &&
                    (!arg.beside || (beside_small.n == arg.samples && beside_large.n == arg.samples));

        /* P1's calls once more through dbus-daemon, for reference, on top of the large size */
        if (bfe_engine_is_private(engine) && !fill_error.refused) {
                const char *address = getenv("DBUS_SYSTEM_BUS_ADDRESS");
                BfeEngine *private_engine = engine;

                r = bfe_engine_open(address ?: "unix:path=/run/dbus/system_bus_socket", &engine);
                if (r < 0)
                        fail("connecting to bfed through the bus", r);
                fprintf(stderr, "P1 through the bus: %u more filters, one AddFilter each, %u in flight\n",
                        arg.p1_count, arg.window);
                cpu_bus = cpu_ns(arg.pid);
                bus_cpu_bus = cpu_ns(arg.bus_pid);
                n_bus = fill(reached, reached + arg.p1_count, 0, "P1-bus", &t_bus) - reached;
                cpu_bus = cpu_ns(arg.pid) - cpu_bus;
                bus_cpu_bus = cpu_ns(arg.bus_pid) - bus_cpu_bus;
                bfe_engine_close(engine);
                engine = private_engine;
        }

        /* ---- results ---- */
        {
                double bfed_p1 = ns_to_s(p1_ns);
                double nft_p1 = arg.nft_add_rule_s >= 0 ? arg.nft_add_rule_s * arg.p1_count / arg.nft_add_rule_n : -1;
                /* the figure: with --beside the points measured in turn, else those of the fill */
                const Point *ps = arg.beside ? &beside_small : &p3_small, *pl = arg.beside ? &beside_large : &p3_large;
                const char *how = arg.beside ? ", samples in turn with the bfed beside" : "";
                double p3_ratio = pl->add.median_ms / ps->add.median_ms;
                double p3_del_ratio = pl->del.median_ms / ps->del.median_ms;
                double p3_seq_ratio = p3_large.add.median_ms / p3_small.add.median_ms;
                double fill_large = ns_to_s(p1_ns + t_fill);
                const char *large_note = !budget_hit ? "" :
                        fill_error.refused ? " (REFUSED: largest size the daemon accepted, not the goal's size)" :
                                             " (BUDGET: largest size reached, not the goal's size)";
                char provisional[96] = "";
                double per_filter = rss_empty >= 0 && rss_large >= 0 && reached > 0 ? (double) (rss_large - rss_empty) / reached : -1;
                double per_filter_p1 = rss_empty >= 0 && rss_p1 >= 0 && n_p1 > 0 ? (double) (rss_p1 - rss_empty) / n_p1 : -1;

                if (budget_hit)
                        snprintf(provisional, sizeof(provisional), " (provisional: measured at %u filters, not %u)",
                                 reached, arg.large);

                printf("\n");
                if (fill_error.refused)
                        printf("FAIL the daemon refused AddFilter #%u (with %u filters in one sublayer): %s\n",
                               fill_error.at + 1, fill_error.at, fill_error.message);
                if (!p1_done)
                        printf("P1  FAIL: only %u of %u filters could be added; the figures below are for %u\n",
                               fill_error.at, arg.p1_count, n_p1);
                p1_added = p1_done ? arg.p1_count : fill_error.at;
                printf("P1  %u AddFilter calls, %u in flight: %.3f s (%.3f ms/call, %.0f calls/s; "
                       "bfed's CPU %.1f us/call, dbus-daemon's %.1f)\n",
                       p1_added, arg.window, bfed_p1, bfed_p1 * 1000 / p1_added, p1_added / bfed_p1,
                       p1_added > 0 && arg.pid > 0 ? (double) cpu_p1 / 1000 / p1_added : NAN,
                       p1_added > 0 && arg.bus_pid > 0 ? (double) bus_cpu_p1 / 1000 / p1_added : NAN);
                if (!p1_done)
                        printf("P1  RATIO n/a   goal >= %.0fx   FAIL (the daemon refused filter #%u)\n", GOAL_P1_RATIO,
                               fill_error.at + 1);
                else if (nft_p1 >= 0)
                        printf("P1  baseline: %u `nft add rule` invocations took %.3f s (%.2f ms each) → %u extrapolated %.1f s\n"
                               "P1  RATIO nft/bfed = %.1fx   goal >= %.0fx   %s\n",
                               arg.nft_add_rule_n, arg.nft_add_rule_s, arg.nft_add_rule_s * 1000 / arg.nft_add_rule_n,
                               arg.p1_count, nft_p1, nft_p1 / bfed_p1, GOAL_P1_RATIO, verdict(nft_p1 / bfed_p1 >= GOAL_P1_RATIO));
                else
                        printf("P1  RATIO n/a (no --nft-add-rule baseline given)\n");
                if (n_bus > 0) {
                        printf("P1  REF the same %u calls through dbus-daemon (at %u filters): %.3f s (%.3f ms/call; "
                               "bfed's CPU %.1f us/call, dbus-daemon's %.1f)", n_bus, reached, ns_to_s(t_bus),
                               ns_to_ms(t_bus) / n_bus, (double) cpu_bus / 1000 / n_bus,
                               arg.bus_pid > 0 ? (double) bus_cpu_bus / 1000 / n_bus : NAN);
                        if (nft_p1 >= 0)
                                printf(": nft/bfed = %.1fx", nft_p1 * n_bus / arg.p1_count / ns_to_s(t_bus));
                        printf("\n");
                }

                printf("P3  AddFilter median at %u: %.3f ms (p95 %.3f); at %u: %.3f ms (p95 %.3f); at %u: %.3f ms (p95 %.3f)%s\n",
                       p3_small.size, p3_small.add.median_ms, p3_small.add.p95_ms, p3_p1.size, p3_p1.add.median_ms,
                       p3_p1.add.p95_ms, p3_large.size, p3_large.add.median_ms, p3_large.add.p95_ms, large_note);
                printf("P3  DeleteFilterById median at %u: %.3f ms (p95 %.3f); at %u: %.3f ms (p95 %.3f); at %u: %.3f ms (p95 %.3f)\n",
                       p3_small.size, p3_small.del.median_ms, p3_small.del.p95_ms, p3_p1.size, p3_p1.del.median_ms,
                       p3_p1.del.p95_ms, p3_large.size, p3_large.del.median_ms, p3_large.del.p95_ms);
                if (arg.beside)
                        printf("P3  beside: AddFilter median at %u (the bfed beside) %.3f ms (p95 %.3f), at %u %.3f ms "
                               "(p95 %.3f); DeleteFilterById %.3f and %.3f ms\n", ps->size, ps->add.median_ms,
                               ps->add.p95_ms, pl->size, pl->add.median_ms, pl->add.p95_ms, ps->del.median_ms,
                               pl->del.median_ms);
                printf("P3  RATIO AddFilter at %u / at %u = %.2fx%s   goal <= %.1fx   %s%s\n", pl->size, ps->size,
                       p3_ratio, how, GOAL_P3_RATIO, verdict(p3_ratio <= GOAL_P3_RATIO), provisional);
                if (arg.beside)
                        printf("P3  (in sequence, the points above minutes apart on one daemon: %.2fx, no verdict)\n",
                               p3_seq_ratio);
                printf("P3  (DeleteFilterById at %u / at %u = %.2fx, no goal; %u samples per point)\n", pl->size,
                       ps->size, p3_del_ratio, arg.samples);
                printf("P3  fill: %u → %u filters took %.1f s (%.3f ms/add)%s\n", n_p1, reached, ns_to_s(t_fill),
                       reached > n_p1 ? ns_to_ms(t_fill) / (reached - n_p1) : 0.0, large_note);
                if (arg.mixed) {
                        const Point *pts[] = { &p3_small, &p3_p1, &p3_large, &beside_small, &beside_large };
                        size_t n_pts = arg.beside ? ELEMENTSOF(pts) : 3;

                        printf("P3-mixed  the mixed policy (issue 12), filled with AddFilters calls of %u: AddFilter median"
                               " at %u %.3f ms, at %u %.3f ms%s: RATIO %.2fx   goal <= %.1fx   %s%s\n",
                               arg.per_call, ps->size, ps->add.median_ms, pl->size, pl->add.median_ms, how, p3_ratio,
                               GOAL_P3_RATIO, verdict(p3_ratio <= GOAL_P3_RATIO), provisional);
                        if (arg.beside)
                                printf("P3-mixed  (in sequence, minutes apart on one daemon: at %u %.3f ms, at %u %.3f ms:"
                                       " %.2fx, no verdict)\n", p3_small.size, p3_small.add.median_ms, p3_large.size,
                                       p3_large.add.median_ms, p3_seq_ratio);
                        for (size_t k = 0; k < n_pts; k++)
                                printf("P3-mixed  %s%6u, AddFilter median (p95) by shape: prefix %.3f (%.3f), range %.3f"
                                       " (%.3f), tuple %.3f (%.3f), callout %.3f (%.3f) ms\n",
                                       k == 3 ? "beside, the bfed beside at " : k == 4 ? "beside, at " : "at ",
                                       pts[k]->size, pts[k]->shape_add[0].median_ms, pts[k]->shape_add[0].p95_ms,
                                       pts[k]->shape_add[1].median_ms, pts[k]->shape_add[1].p95_ms,
                                       pts[k]->shape_add[2].median_ms, pts[k]->shape_add[2].p95_ms,
                                       pts[k]->shape_add[3].median_ms, pts[k]->shape_add[3].p95_ms);
                        printf("P3-mixed  RATIO by shape, at %u / at %u%s: prefix %.2fx, range %.2fx, tuple %.2fx,"
                               " callout %.2fx\n", pl->size, ps->size, how,
                               pl->shape_add[0].median_ms / ps->shape_add[0].median_ms,
                               pl->shape_add[1].median_ms / ps->shape_add[1].median_ms,
                               pl->shape_add[2].median_ms / ps->shape_add[2].median_ms,
                               pl->shape_add[3].median_ms / ps->shape_add[3].median_ms);
                }

                printf("P4  IKE MM policy AddFilter → exemptions in the kernel, empty database: median %.3f ms, p95 %.3f ms"
                       " (delete: median %.3f ms, p95 %.3f ms); %u cycles   goal median <= %.1f ms   %s\n",
                       p4_empty.add.median_ms, p4_empty.add.p95_ms, p4_empty.del.median_ms, p4_empty.del.p95_ms,
                       arg.mm_cycles, GOAL_P4_MEDIAN, verdict(p4_empty.add.median_ms <= GOAL_P4_MEDIAN));
                printf("P4  same at %u filters: median %.3f ms, p95 %.3f ms (delete: median %.3f ms, p95 %.3f ms)   %s\n",
                       p4_large.size, p4_large.add.median_ms, p4_large.add.p95_ms, p4_large.del.median_ms,
                       p4_large.del.p95_ms, verdict(p4_large.add.median_ms <= GOAL_P4_MEDIAN));
                printf("P4  parts: bfed's CPU %.0f us per add/delete cycle (%.0f at %u filters), dbus-daemon's %.0f "
                       "(%.0f); a bare round trip to bfed (a FilterCount read) median %.3f ms (%.3f at %u)\n",
                       p4_empty.cpu_us, p4_large.cpu_us, p4_large.size, p4_empty.bus_cpu_us, p4_large.bus_cpu_us,
                       p4_empty.bare.median_ms, p4_large.bare.median_ms, p4_large.size);
                printf("P4  the client busy-polls its replies (as P7's ends); waiting blocked instead, the add's median "
                       "is %.3f ms (%.3f at %u filters)\n", p4_empty.add_blocking.median_ms,
                       p4_large.add_blocking.median_ms, p4_large.size);

                if (per_filter >= 0) {
                        char goal[64] = "no goal (P5's is the homogeneous policy's)";

                        if (!arg.mixed)
                                snprintf(goal, sizeof(goal), "goal <= %.0f   %s", GOAL_P5_BYTES,
                                         verdict(per_filter <= GOAL_P5_BYTES));
                        printf("P5  VmRSS empty %.1f MiB, at %u filters %.1f MiB, at %u filters %.1f MiB → %.0f bytes/filter"
                               " at %u (%.0f at %u)   %s%s\n",
                               rss_empty / 1048576.0, n_p1, rss_p1 / 1048576.0, reached, rss_large / 1048576.0,
                               per_filter, reached, per_filter_p1, n_p1, goal, provisional);
                } else
                        printf("P5  n/a: VmRSS of pid %ld unreadable\n", arg.pid);

                if (arg.nft_f_s >= 0)
                        printf("REF `nft -f` of %u rules (one table, one chain): %.3f s; bfed's fill from empty to %u"
                               " (P1 + fill, one AddFilter each, %u in flight): %.1f s = %.1fx the nft -f time%s\n",
                               arg.nft_f_n, arg.nft_f_s, reached, arg.window, fill_large,
                               arg.nft_f_s > 0 ? fill_large / arg.nft_f_s : 0.0, large_note);
                else
                        printf("REF bfed's fill from empty to %u: %.1f s (no --nft-f reference given)\n", reached, fill_large);

                printf("\nSUMMARY                                   measured              baseline / goal      ratio      result\n");
                if (!p1_done)
                        printf("P1 %6u AddFilter (s)                   FAILED: filter #%u refused                          FAIL\n",
                               arg.p1_count, fill_error.at + 1);
                else if (nft_p1 >= 0)
                        printf("P1 %6u AddFilter (s)                   %10.3f              nft %8.1f s       %7.1fx   %s (goal >= %.0fx)\n",
                               arg.p1_count, bfed_p1, nft_p1, nft_p1 / bfed_p1, verdict(nft_p1 / bfed_p1 >= GOAL_P1_RATIO),
                               GOAL_P1_RATIO);
                else
                        printf("P1 %6u AddFilter (s)                   %10.3f              n/a\n", arg.p1_count, bfed_p1);
                printf("P3 AddFilter median @%-6u (ms)          %10.3f              @%-6u %7.3f ms %7.2fx   %s (goal <= %.1fx)%s\n",
                       pl->size, pl->add.median_ms, ps->size, ps->add.median_ms, p3_ratio,
                       verdict(p3_ratio <= GOAL_P3_RATIO), GOAL_P3_RATIO, budget_hit ? " provisional" : "");
                printf("P4 MM add → exemptions, median (ms)      %10.3f              goal %.1f ms    %7.2fx   %s (p95 %.3f ms)\n",
                       p4_empty.add.median_ms, GOAL_P4_MEDIAN, p4_empty.add.median_ms / GOAL_P4_MEDIAN,
                       verdict(p4_empty.add.median_ms <= GOAL_P4_MEDIAN), p4_empty.add.p95_ms);
                if (per_filter >= 0)
                        printf("P5 RSS per filter @%-6u (bytes)        %10.0f              goal %4.0f B    %7.2fx   %s%s\n",
                               reached, per_filter, GOAL_P5_BYTES, per_filter / GOAL_P5_BYTES,
                               verdict(per_filter <= GOAL_P5_BYTES), budget_hit ? " provisional" : "");
                if (arg.nft_f_s >= 0)
                        printf("REF fill 0→%-6u via AddFilter (s)       %10.1f              nft -f %6.2f s %7.1fx   (reference)\n",
                               reached, fill_large, arg.nft_f_s, arg.nft_f_s > 0 ? fill_large / arg.nft_f_s : 0.0);
                printf("checks: exemptions verified at 0 and %u filters, FilterCount back to %" PRIu32 " + %u, every"
                       " AddFilter accepted: %s\n", reached, base_count, reached, checks_ok ? "OK" : "WRONG");
                if (p3_small.error[0] || p3_p1.error[0] || p3_large.error[0] || beside_small.error[0] ||
                    beside_large.error[0])
                        printf("P3 samples refused: %s %s %s %s %s\n", p3_small.error, p3_p1.error, p3_large.error,
                               beside_small.error, beside_large.error);
                if (p4_empty.error[0] || p4_large.error[0])
                        printf("P4 refused: %s %s\n", p4_empty.error, p4_large.error);
        }

        bfe_engine_close(engine);
        if (engine_beside)
                bfe_engine_close(engine_beside);
        return checks_ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
