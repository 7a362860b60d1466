/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe-provider — a policy provider process for the integration tests, built on libbfe.
 *
 *   bfe-provider [--dynamic] [--name N] [--timeout-ms MS] [STEP...]
 *
 * Opens a session (dynamic with --dynamic; --timeout-ms sets its TransactionTimeoutMSec),
 * prints "session PATH", runs the steps in order, prints "ready" and then waits until it is
 * killed; SIGTERM or SIGINT close the engine (and so the session) and exit 0.
 *
 * Steps (each prints one line when done, "... ms=ELAPSED t=MONOTONIC_MS"):
 *   begin | begin-ro | commit | abort | close        the session calls
 *   persistent on|off                                 Flags 0x1 on the following adds
 *   context NAME TYPE          → "context KEY ID"     a provider context (5 = IKE MM)
 *   mm-filter NAME             → "filter KEY ID"      IKEEXT_V4 permit referencing the last context
 *   block NAME LAYER PORT      → "filter KEY ID"      block UDP (to local port PORT; 0 = any)
 *   huge NAME                  → "filter KEY ID"      64 alternating address-prefix conditions at
 *                                                     INBOUND_TRANSPORT_V4 (too big for the kernel)
 *   many N NAME LAYER PORTBASE → "many ok=N first=ID last=ID"  N block filters (ports PORTBASE…) in
 *                                                     one AddFilters call, all or none
 *   many-async CALLS N NAME LAYER PORTBASE
 *                              → "many-async ok=K err=E first=ID last=ID"  CALLS AddFilters calls of N
 *                                                     such filters each, all in flight at once
 *                                                     (bfe_filter_add_many_async()); first and last
 *                                                     are the ids of the first and the last filter
 *   pipeline N NAME LAYER PORTBASE [HUGE_AT]
 *                              → "pipeline ok=K err=E"
 *                                                     N filters like `block` ("NAME i", local port
 *                                                     PORTBASE+i), the one with index HUGE_AT the
 *                                                     `huge` filter instead, all sent at once with
 *                                                     bfe_filter_add_async(); then every reply.
 *                                                     Each failed add prints "error pipeline INDEX
 *                                                     BUSNAME MESSAGE" first. A system bus lets
 *                                                     one connection have 128 calls awaiting a
 *                                                     reply by default: it refuses the rest with
 *                                                     org.freedesktop.DBus.Error.LimitsExceeded
 *   filters FILE each|many     → "filter KEY ID" a filter
 *                                                     the filters FILE describes, one a line, with
 *                                                     one AddFilter each, or in one AddFilters call
 *                                                     (then KEY is "-"); a line is TAB-separated:
 *                                                     NAME LAYER ACTION FLAGS auto|range|explicit
 *                                                     WEIGHT SUBLAYER|- CALLOUT|- CONDITIONS, the
 *                                                     last "FIELD MATCH VALUE" triples separated
 *                                                     by spaces (or nothing). A failed add prints
 *                                                     "error filters ..." and the rest go on (each)
 *   delete-filter ID | delete-context KEY → "deleted"
 *   enum                       → "enum N"             the number of filters bfe_filter_enum() lists
 *                                                     (it pages through them: any database size)
 *   sleep MS                   → "slept"
 *   pause                      → "paused", then waits for SIGUSR1
 * A failed step prints "error STEP BUSNAME ms=.. t=.. MESSAGE" and the next step runs.
 * Every line is flushed at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bfe/bfe.h"

static BfeEngine *engine;
static uint32_t add_flags;
static BfeKey last_context;
static double step_start;
static unsigned pipeline_ok, pipeline_err;

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fflush(stdout);
}

static void done(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void done(const char *fmt, ...) {
        double t = now_ms();
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf(" ms=%.1f t=%.1f\n", t - step_start, t);
        fflush(stdout);
}

static void failed(const char *step, int r) {
        const BfeError *err = bfe_engine_last_error(engine);
        double t = now_ms();

        printf("error %s %s ms=%.1f t=%.1f %s\n", step, err->bus_name ? err->bus_name : "local",
               t - step_start, t, err->message && err->message[0] ? err->message : strerror(-r));
        fflush(stdout);
}

static void usage(void) {
        fprintf(stderr, "usage: bfe-provider [--dynamic] [--name N] [--timeout-ms MS] [STEP...]\n"
                        "(see the comment at the top of tests/tools/bfe-provider.c)\n");
        exit(2);
}

static void print_added(const char *what, const BfeKey *key, uint64_t id) {
        char buf[BFE_KEY_STRING_MAX];

        done("%s %s %llu", what, bfe_key_to_string(key, buf), (unsigned long long) id);
}

/* The `block` filter: block UDP at @layer, to local port @port (all ports for "0"). */
static void block_filter(BfeFilter *f, BfeCondition conds[static 2], const char *name, const char *layer,
                         const char *port) {
        conds[0] = (BfeCondition) { (char *) "IP_PROTOCOL", BFE_MATCH_EQUAL, (char *) "udp" };
        conds[1] = (BfeCondition) { (char *) "IP_LOCAL_PORT", BFE_MATCH_EQUAL, (char *) port };
        *f = (BfeFilter) {
                .name = (char *) name,
                .layer = (char *) layer,
                .action = BFE_ACTION_BLOCK,
                .conditions = conds,
                .n_conditions = strcmp(port, "0") == 0 ? 1 : 2,
        };
}

/* The `huge` filter: 64 alternating address-prefix conditions, more than the kernel takes. */
static void huge_filter(BfeFilter *f, BfeCondition conds[static 64], const char *name) {
        static char values[32][24];

        for (int k = 0; k < 32; k++) {
                snprintf(values[k], sizeof(values[k]), "10.%d.0.0/16", k + 1);
                conds[2 * k] = (BfeCondition) { (char *) "IP_LOCAL_ADDRESS", BFE_MATCH_EQUAL, values[k] };
                conds[2 * k + 1] = (BfeCondition) { (char *) "IP_REMOTE_ADDRESS", BFE_MATCH_EQUAL, values[k] };
        }
        *f = (BfeFilter) {
                .name = (char *) name,
                .layer = (char *) "INBOUND_TRANSPORT_V4",
                .action = BFE_ACTION_BLOCK,
                .conditions = conds,
                .n_conditions = 64,
        };
}

static void pipeline_failed(unsigned index, int r, const BfeError *err) {
        out("error pipeline %u %s %s\n", index, err->bus_name ? err->bus_name : "local",
            err->message && err->message[0] ? err->message : strerror(-r));
}

static void on_pipeline_add(BfeEngine *e, int r, const BfeKey *key, uint64_t id, const BfeError *error,
                            void *userdata) {
        if (r < 0) {
                pipeline_err++;
                pipeline_failed((unsigned) (uintptr_t) userdata, r, error);
        } else
                pipeline_ok++;
}

/* The `many` step: @n block filters in one AddFilters call (bfe_filter_add_many()). */
static void many(unsigned n, const char *name, const char *layer, unsigned port_base) {
        BfeFilter *f = calloc(n ? n : 1, sizeof(*f));
        BfeCondition (*conds)[2] = calloc(n ? n : 1, sizeof(*conds));
        char (*names)[64] = calloc(n ? n : 1, sizeof(*names)), (*ports)[16] = calloc(n ? n : 1, sizeof(*ports));
        uint64_t *ids = calloc(n ? n : 1, sizeof(*ids));
        int r = -ENOMEM;

        if (f && conds && names && ports && ids) {
                for (unsigned i = 0; i < n; i++) {
                        snprintf(names[i], sizeof(names[i]), "%s %u", name, i);
                        snprintf(ports[i], sizeof(ports[i]), "%u", port_base + i);
                        block_filter(&f[i], conds[i], names[i], layer, ports[i]);
                        f[i].flags |= add_flags;
                }
                r = bfe_filter_add_many(engine, f, n, ids);
        }
        if (r < 0)
                failed("many", r);
        else
                done("many ok=%u first=%llu last=%llu", n, n ? (unsigned long long) ids[0] : 0ULL,
                     n ? (unsigned long long) ids[n - 1] : 0ULL);
        free(f);
        free(conds);
        free(names);
        free(ports);
        free(ids);
}

/* The `many-async` step: @calls AddFilters calls of @n block filters each, all in flight at once
 * (bfe_filter_add_many_async()), then every reply. */
static unsigned many_async_ok, many_async_err;

static void on_many_async(BfeEngine *e, int r, const BfeError *error, void *userdata) {
        if (r < 0) {
                many_async_err++;
                printf("error many-async %u %s\n", (unsigned) (uintptr_t) userdata, error ? error->message : strerror(-r));
        } else
                many_async_ok++;
}

static void many_async(unsigned calls, unsigned n, const char *name, const char *layer, unsigned port_base) {
        size_t total = (size_t) calls * n ?: 1;
        BfeFilter *f = calloc(total, sizeof(*f));
        BfeCondition (*conds)[2] = calloc(total, sizeof(*conds));
        char (*names)[64] = calloc(total, sizeof(*names)), (*ports)[16] = calloc(total, sizeof(*ports));
        uint64_t *ids = calloc(total, sizeof(*ids));
        int r = f && conds && names && ports && ids ? 0 : -ENOMEM;

        many_async_ok = many_async_err = 0;
        for (unsigned c = 0; r >= 0 && c < calls; c++) {
                for (unsigned i = c * n; i < (c + 1) * n; i++) {
                        snprintf(names[i], sizeof(names[i]), "%s %u", name, i);
                        snprintf(ports[i], sizeof(ports[i]), "%u", port_base + i);
                        block_filter(&f[i], conds[i], names[i], layer, ports[i]);
                        f[i].flags |= add_flags;
                }
                r = bfe_filter_add_many_async(engine, &f[c * n], n, &ids[c * n], on_many_async, (void *) (uintptr_t) c);
        }
        while (r >= 0 && bfe_engine_pending_calls(engine) > 0)
                r = bfe_engine_wait(engine, UINT64_MAX);
        if (r < 0)
                failed("many-async", r);
        else
                done("many-async ok=%u err=%u first=%llu last=%llu", many_async_ok, many_async_err,
                     (unsigned long long) ids[0], (unsigned long long) ids[total - 1]);
        free(f);
        free(conds);
        free(names);
        free(ports);
        free(ids);
}

/* The `pipeline` step: @n adds in flight at once, then every reply. */
static void pipeline(unsigned n, const char *name, const char *layer, unsigned port_base, long huge_at) {
        pipeline_ok = pipeline_err = 0;
        for (unsigned i = 0; i < n; i++) {
                BfeCondition conds[64];
                char fname[256], port[16];
                BfeFilter f;
                int r;

                snprintf(fname, sizeof(fname), "%s %u", name, i);
                snprintf(port, sizeof(port), "%u", port_base + i);
                if ((long) i == huge_at)
                        huge_filter(&f, conds, fname);
                else
                        block_filter(&f, conds, fname, layer, port);
                f.flags |= add_flags;

                r = bfe_filter_add_async(engine, &f, on_pipeline_add, (void *) (uintptr_t) i);
                if (r < 0) {
                        pipeline_err++;
                        pipeline_failed(i, r, bfe_engine_last_error(engine));
                }
        }
        while (bfe_engine_pending_calls(engine) > 0)
                if (bfe_engine_wait(engine, UINT64_MAX) < 0)
                        break;  /* the connection is gone: the callbacks ran with the error */
        done("pipeline ok=%u err=%u", pipeline_ok, pipeline_err);
}

static int add_filter(const char *step, BfeFilter *f) {
        uint64_t id = 0;
        BfeKey key;
        int r;

        f->flags |= add_flags;
        r = bfe_filter_add(engine, f, &key, &id);
        if (r < 0)
                failed(step, r);
        else
                print_added("filter", &key, id);
        return r;
}

static void finish(int status);

/* One line of a `filters` file into @f (pointing into @line, which it cuts up); 0 or -EINVAL. */
static int parse_filter_line(char *line, BfeFilter *f, BfeCondition **ret_conds) {
        char *field[9], *save = NULL, *tok;
        BfeCondition *conds = NULL;
        size_t n = 0;
        int k = 0;

        line[strcspn(line, "\n")] = '\0';
        for (char *p = line; k < 9; k++) {
                field[k] = p;
                p = strchr(p, '\t');
                if (!p) {
                        k++;
                        break;
                }
                *p++ = '\0';
        }
        if (k < 8)
                return -EINVAL;
        if (k == 8)
                field[8] = (char *) "";
        *f = (BfeFilter) {
                .name = field[0],
                .layer = field[1],
                .action = (uint32_t) strtoul(field[2], NULL, 0),
                .flags = (uint32_t) strtoul(field[3], NULL, 0) | add_flags,
                .weight_kind = strcmp(field[4], "range") == 0 ? BFE_WEIGHT_RANGE :
                               strcmp(field[4], "explicit") == 0 ? BFE_WEIGHT_EXPLICIT : BFE_WEIGHT_AUTO,
                .weight = strtoull(field[5], NULL, 0),
        };
        if (strcmp(field[6], "-") != 0 && bfe_key_from_string(field[6], &f->sublayer_key) < 0)
                return -EINVAL;
        if (strcmp(field[7], "-") != 0 && bfe_key_from_string(field[7], &f->callout_key) < 0)
                return -EINVAL;
        for (tok = strtok_r(field[8], " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                char *match = strtok_r(NULL, " ", &save), *value = strtok_r(NULL, " ", &save);
                BfeCondition *c;

                if (!match || !value) {
                        free(conds);
                        return -EINVAL;
                }
                c = realloc(conds, (n + 1) * sizeof(*conds));
                if (!c) {
                        free(conds);
                        return -ENOMEM;
                }
                conds = c;
                conds[n++] = (BfeCondition) { tok, (uint32_t) strtoul(match, NULL, 0), value };
        }
        f->conditions = conds;
        f->n_conditions = n;
        *ret_conds = conds;
        return 0;
}

/* The `filters` step: the filters of @path, one AddFilter each or all in one AddFilters. */
static void filters_from_file(const char *path, bool many) {
        FILE *file = fopen(path, "re");
        char **lines = NULL, *line = NULL;
        BfeCondition **conds = NULL;
        BfeFilter *f = NULL;
        size_t n = 0, cap = 0;
        uint64_t *ids = NULL;
        int r = 0;

        if (!file) {
                failed("filters", -errno);
                return;
        }
        while (getline(&line, &cap, file) > 0) {
                char **l = realloc(lines, (n + 1) * sizeof(*lines));
                BfeFilter *nf = realloc(f, (n + 1) * sizeof(*f));
                BfeCondition **nc = realloc(conds, (n + 1) * sizeof(*conds));

                if (l)
                        lines = l;
                if (nf)
                        f = nf;
                if (nc)
                        conds = nc;
                if (!l || !nf || !nc) {
                        r = -ENOMEM;
                        break;
                }
                lines[n] = line;
                conds[n] = NULL;
                line = NULL;
                cap = 0;
                r = parse_filter_line(lines[n], &f[n], &conds[n]);
                n++;
                if (r < 0)
                        break;
        }
        free(line);
        fclose(file);
        if (r < 0) {
                fprintf(stderr, "bfe-provider: %s: bad line %zu\n", path, n);
                finish(2);
        }
        if (many) {
                ids = calloc(n ? n : 1, sizeof(*ids));
                r = ids ? bfe_filter_add_many(engine, f, n, ids) : -ENOMEM;
                if (r < 0)
                        failed("filters", r);
                else
                        for (size_t k = 0; k < n; k++)
                                done("filter - %llu", (unsigned long long) ids[k]);
        } else
                for (size_t k = 0; k < n; k++)
                        (void) add_filter("filters", &f[k]);
        for (size_t k = 0; k < n; k++) {
                free(conds[k]);
                free(lines[k]);
        }
        free(conds);
        free(lines);
        free(f);
        free(ids);
}

/* Waits for one of @sigs (all blocked); returns it. */
static int wait_signal(const sigset_t *sigs) {
        int sig = 0;

        while (sigwait(sigs, &sig) != 0)
                ;
        return sig;
}

static void finish(int status) {
        engine = bfe_engine_close(engine);
        exit(status);
}

int main(int argc, char **argv) {
        BfeSessionOptions opts = { .name = "bfe-provider" };
        sigset_t sigs;
        int i = 1, r;

        for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
                if (strcmp(argv[i], "--dynamic") == 0)
                        opts.flags |= BFE_SESSION_FLAG_DYNAMIC;
                else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
                        opts.name = argv[++i];
                else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
                        opts.txn_wait_timeout_msec = (uint32_t) strtoul(argv[++i], NULL, 0);
                else if (strcmp(argv[i], "--") == 0) {
                        i++;
                        break;
                } else
                        usage();
        }

        /* Signals are taken with sigwait() where we wait, and deferred while steps run. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGUSR1);
        sigprocmask(SIG_BLOCK, &sigs, NULL);

        r = bfe_engine_open_session(NULL, &opts, &engine);
        if (r < 0) {
                fprintf(stderr, "bfe-provider: cannot open a session: %s (%d)\n",
                        bfe_wfp_code_from_ret(r) ? bfe_wfp_error_name(bfe_wfp_code_from_ret(r)) : strerror(-r), r);
                return 1;
        }
        out("session %s\n", bfe_engine_get_session_path(engine));

        while (i < argc) {
                const char *step = argv[i++];
                const char *a1 = i < argc ? argv[i] : NULL;
                const char *a2 = i + 1 < argc ? argv[i + 1] : NULL;
                const char *a3 = i + 2 < argc ? argv[i + 2] : NULL;

                step_start = now_ms();
                if (strcmp(step, "begin") == 0 || strcmp(step, "begin-ro") == 0) {
                        r = bfe_transaction_begin(engine, step[5] ? BFE_TXN_READ_ONLY : 0);
                        r < 0 ? failed(step, r) : done("%s", step);
                } else if (strcmp(step, "commit") == 0) {
                        r = bfe_transaction_commit(engine);
                        r < 0 ? failed(step, r) : done("%s", step);
                } else if (strcmp(step, "abort") == 0) {
                        r = bfe_transaction_abort(engine);
                        r < 0 ? failed(step, r) : done("%s", step);
                } else if (strcmp(step, "close") == 0) {
                        r = bfe_session_close(engine);
                        r < 0 ? failed(step, r) : done("%s", step);
                } else if (strcmp(step, "persistent") == 0 && a1) {
                        add_flags = strcmp(a1, "on") == 0 ? BFE_FLAG_PERSISTENT : 0;
                        i++;
                        done("persistent %s", a1);
                } else if (strcmp(step, "context") == 0 && a2) {
                        BfeProviderContext c = {
                                .name = (char *) a1,
                                .type = (uint32_t) strtoul(a2, NULL, 0),
                                .flags = add_flags,
                        };
                        uint64_t id = 0;
                        BfeKey key;

                        i += 2;
                        r = bfe_provider_context_add(engine, &c, &key, &id);
                        if (r < 0)
                                failed(step, r);
                        else {
                                last_context = key;
                                print_added("context", &key, id);
                        }
                } else if (strcmp(step, "mm-filter") == 0 && a1) {
                        BfeFilter f = {
                                .name = (char *) a1,
                                .layer = (char *) "IKEEXT_V4",
                                .action = BFE_ACTION_PERMIT,
                                .provider_context_key = last_context,
                        };

                        i++;
                        (void) add_filter(step, &f);
                } else if (strcmp(step, "block") == 0 && a3) {
                        BfeCondition conds[2];
                        BfeFilter f;

                        i += 3;
                        block_filter(&f, conds, a1, a2, a3);
                        (void) add_filter(step, &f);
                } else if (strcmp(step, "huge") == 0 && a1) {
                        BfeCondition conds[64];
                        BfeFilter f;

                        i++;
                        huge_filter(&f, conds, a1);
                        (void) add_filter(step, &f);
                } else if (strcmp(step, "many") == 0 && i + 3 < argc) {
                        many((unsigned) strtoul(a1, NULL, 0), a2, a3, (unsigned) strtoul(argv[i + 3], NULL, 0));
                        i += 4;
                } else if (strcmp(step, "many-async") == 0 && i + 4 < argc) {
                        many_async((unsigned) strtoul(a1, NULL, 0), (unsigned) strtoul(a2, NULL, 0), a3, argv[i + 3],
                                   (unsigned) strtoul(argv[i + 4], NULL, 0));
                        i += 5;
                } else if (strcmp(step, "pipeline") == 0 && i + 3 < argc) {
                        const char *a4 = i + 4 < argc ? argv[i + 4] : NULL;
                        long huge_at = -1;

                        /* HUGE_AT is optional: a number there cannot be the next step */
                        if (a4 && a4[0] && strspn(a4, "0123456789") == strlen(a4))
                                huge_at = strtol(a4, NULL, 10);
                        pipeline((unsigned) strtoul(a1, NULL, 0), a2, a3, (unsigned) strtoul(argv[i + 3], NULL, 0),
                                 huge_at);
                        i += huge_at >= 0 ? 5 : 4;
                } else if (strcmp(step, "filters") == 0 && a2) {
                        i += 2;
                        filters_from_file(a1, strcmp(a2, "many") == 0);
                } else if (strcmp(step, "delete-filter") == 0 && a1) {
                        i++;
                        r = bfe_filter_delete_by_id(engine, strtoull(a1, NULL, 0));
                        r < 0 ? failed(step, r) : done("deleted");
                } else if (strcmp(step, "delete-context") == 0 && a1) {
                        BfeKey key;

                        i++;
                        if (bfe_key_from_string(a1, &key) < 0)
                                usage();
                        r = bfe_provider_context_delete(engine, &key);
                        r < 0 ? failed(step, r) : done("deleted");
                } else if (strcmp(step, "enum") == 0) {
                        BfeFilter *a = NULL;
                        size_t n = 0;

                        r = bfe_filter_enum(engine, NULL, &a, &n);
                        if (r < 0)
                                failed(step, r);
                        else
                                done("enum %zu", n);
                        bfe_filter_array_free(a, n);
                } else if (strcmp(step, "sleep") == 0 && a1) {
                        i++;
                        usleep((useconds_t) strtoul(a1, NULL, 0) * 1000);
                        done("slept");
                } else if (strcmp(step, "pause") == 0) {
                        out("paused\n");
                        if (wait_signal(&sigs) != SIGUSR1)
                                finish(0);
                } else {
                        fprintf(stderr, "bfe-provider: bad step '%s' (or missing arguments)\n", step);
                        finish(2);
                }
        }

        out("ready\n");
        for (;;)
                if (wait_signal(&sigs) != SIGUSR1)
                        finish(0);
}
