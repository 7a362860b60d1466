/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfectl — command-line client of bfed, built on libbfe only.
 *
 * Exit codes: 0 success, 1 the engine refused (WFP or D-Bus error), 2 usage error, 3 bfed
 * cannot be reached. Errors go to stderr as "bfectl: <message>", where the message is the
 * daemon's, prefixed with the WFP name and code if it does not already begin with them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bfe/bfe.h"
#include "bfectl-util.h"
#include "bfed-build.h"
#include "macro.h"
#include "object.h"
#include "wfp.h"

enum {
        EXIT_OK = 0,
        EXIT_ENGINE = 1,
        EXIT_USAGE = 2,
        EXIT_CONNECT = 3,
};

static bool arg_json;
static const char *arg_address;

DEFINE_TRIVIAL_CLEANUP_FUNC(BfeEngine *, bfe_engine_close);
DEFINE_TRIVIAL_CLEANUP_FUNC(BfeProvider *, bfe_provider_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BfeSublayer *, bfe_sublayer_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BfeProviderContext *, bfe_provider_context_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BfeFilter *, bfe_filter_free);

typedef struct Verb {
        const char *object;     /* NULL for "status" */
        const char *verb;
        int (*run)(const struct Verb *v, int argc, char **argv);
        const char *usage;
} Verb;

/* ---- errors and the connection --------------------------------------------------------------- */

static int usage_error(const Verb *v, const char *fmt, ...) _printf_(2, 3);
static int usage_error(const Verb *v, const char *fmt, ...) {
        va_list ap;

        fputs("bfectl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        if (v && v->object)
                fprintf(stderr, "\nTry 'bfectl %s %s --help'.\n", v->object, v->verb);
        else if (v)
                fprintf(stderr, "\nTry 'bfectl %s --help'.\n", v->verb);
        else
                fputs("\nTry 'bfectl --help'.\n", stderr);
        return EXIT_USAGE;
}

/* Failures that mean bfed is gone or unreachable, not that it refused the request. */
static bool is_connection_error(int r) {
        switch (-r) {
        case ECONNREFUSED:
        case ECONNRESET:
        case ENOTCONN:
        case EHOSTUNREACH:      /* org.freedesktop.DBus.Error.ServiceUnknown */
        case ENXIO:             /* NameHasNoOwner */
        case ETIMEDOUT:         /* NoReply */
        case EPIPE:
                return true;
        default:
                return false;
        }
}

static int engine_error(BfeEngine *e, int r) {
        const BfeError *err = bfe_engine_last_error(e);
        const char *msg = err->message && err->message[0] ? err->message : strerror(-r);

        if (err->wfp_name && strncmp(msg, err->wfp_name, strlen(err->wfp_name)) != 0)
                fprintf(stderr, "bfectl: %s (0x%08" PRIX32 "): %s\n", err->wfp_name, err->wfp_code, msg);
        else
                fprintf(stderr, "bfectl: %s\n", msg);
        return is_connection_error(r) ? EXIT_CONNECT : EXIT_ENGINE;
}

static int engine_connect(BfeEngine **ret) {
        int r;

        r = bfe_engine_open(arg_address, ret);
        if (r >= 0)
                return EXIT_OK;

        if (r == -EHOSTUNREACH || r == -ENXIO)
                fprintf(stderr, "bfectl: bfed is not running (nobody owns org.bfed.Engine1 on the bus)\n");
        else
                fprintf(stderr, "bfectl: cannot connect to the bus%s%s: %s\n",
                        arg_address ? " at " : "", arg_address ?: "", strerror(-r));
        return EXIT_CONNECT;
}

/* ---- output helpers -------------------------------------------------------------------------- */

static const char *key_str(const BfeKey *k, char buf[static BFE_KEY_STRING_MAX]) {
        return bfe_key_is_null(k) ? NULL : bfe_key_to_string(k, buf);
}

static void show_line(const char *label, const char *fmt, ...) _printf_(2, 3);
static void show_line(const char *label, const char *fmt, ...) {
        va_list ap;

        printf("%-18s ", label);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

static void show_key(const char *label, const BfeKey *k) {
        char buf[BFE_KEY_STRING_MAX];

        show_line(label, "%s", key_str(k, buf) ?: "-");
}

static void show_blob(const char *label, const BfeBlob *b) {
        _cleanup_(freep) char *hex = NULL;

        if (b->size == 0)
                return;
        hex = blob_to_hex(b);
        show_line(label, "%s", hex ?: "?");
}

/* JSON members: each call writes ",\"name\":value", the first one without the comma. */
typedef struct JsonObject {
        bool first;
} JsonObject;

static void json_begin(JsonObject *j) {
        putchar('{');
        j->first = true;
}

static void json_end(JsonObject *j) {
        putchar('}');
}

static void json_name(JsonObject *j, const char *name) {
        if (!j->first)
                putchar(',');
        j->first = false;
        json_print_string(stdout, name);
        putchar(':');
}

static void json_str(JsonObject *j, const char *name, const char *value) {
        json_name(j, name);
        json_print_string(stdout, value);
}

static void json_u64(JsonObject *j, const char *name, uint64_t value) {
        json_name(j, name);
        printf("%" PRIu64, value);
}

static void json_bool(JsonObject *j, const char *name, bool value) {
        json_name(j, name);
        fputs(value ? "true" : "false", stdout);
}

static void json_key(JsonObject *j, const char *name, const BfeKey *k) {
        char buf[BFE_KEY_STRING_MAX];

        json_str(j, name, key_str(k, buf));
}

static void json_blob(JsonObject *j, const char *name, const BfeBlob *b) {
        _cleanup_(freep) char *hex = blob_to_hex(b);

        json_str(j, name, hex);
}

/* ---- printing objects ------------------------------------------------------------------------ */

static void provider_print(const BfeProvider *p) {
        if (arg_json) {
                JsonObject j;

                json_begin(&j);
                json_key(&j, "key", &p->key);
                json_str(&j, "name", p->name);
                json_str(&j, "description", p->description);
                json_u64(&j, "flags", p->flags);
                json_blob(&j, "provider_data", &p->provider_data);
                json_end(&j);
                return;
        }
        show_key("Key:", &p->key);
        show_line("Name:", "%s", p->name ?: "");
        show_line("Description:", "%s", p->description ?: "");
        show_line("Flags:", "0x%" PRIx32 "%s", p->flags, p->flags & BFE_FLAG_PERSISTENT ? " (persistent)" : "");
        show_blob("Provider data:", &p->provider_data);
}

static void sublayer_print(const BfeSublayer *s) {
        if (arg_json) {
                JsonObject j;

                json_begin(&j);
                json_key(&j, "key", &s->key);
                json_str(&j, "name", s->name);
                json_str(&j, "description", s->description);
                json_u64(&j, "flags", s->flags);
                json_key(&j, "provider_key", &s->provider_key);
                json_u64(&j, "weight", s->weight);
                json_blob(&j, "provider_data", &s->provider_data);
                json_end(&j);
                return;
        }
        show_key("Key:", &s->key);
        show_line("Name:", "%s", s->name ?: "");
        show_line("Description:", "%s", s->description ?: "");
        show_line("Weight:", "%u (0x%04x)", (unsigned) s->weight, (unsigned) s->weight);
        show_key("Provider:", &s->provider_key);
        show_line("Flags:", "0x%" PRIx32 "%s", s->flags, s->flags & BFE_FLAG_PERSISTENT ? " (persistent)" : "");
        show_blob("Provider data:", &s->provider_data);
}

static void context_print(const BfeProviderContext *c) {
        const char *type = wfp_context_type_short_name(c->type);

        if (arg_json) {
                JsonObject j;

                json_begin(&j);
                json_key(&j, "key", &c->key);
                json_u64(&j, "id", c->id);
                json_str(&j, "name", c->name);
                json_str(&j, "description", c->description);
                json_u64(&j, "flags", c->flags);
                json_key(&j, "provider_key", &c->provider_key);
                json_u64(&j, "type", c->type);
                json_str(&j, "type_name", type);
                json_blob(&j, "data", &c->data);
                json_blob(&j, "provider_data", &c->provider_data);
                json_end(&j);
                return;
        }
        show_key("Key:", &c->key);
        show_line("Id:", "%" PRIu64, c->id);
        show_line("Name:", "%s", c->name ?: "");
        show_line("Description:", "%s", c->description ?: "");
        show_line("Type:", "%s (%" PRIu32 ")", type ?: "unknown", c->type);
        show_key("Provider:", &c->provider_key);
        show_line("Flags:", "0x%" PRIx32 "%s", c->flags, c->flags & BFE_FLAG_PERSISTENT ? " (persistent)" : "");
        show_blob("Data:", &c->data);
        show_blob("Provider data:", &c->provider_data);
}

static void filter_print(const BfeFilter *f) {
        char weight[WEIGHT_STRING_MAX];
        _cleanup_(freep) char *flags = format_filter_flags(f->flags);
        const char *action = action_to_string(f->action);
        char buf[BFE_KEY_STRING_MAX];

        weight_to_string(f->weight_kind, f->weight, weight);
        if (arg_json) {
                JsonObject j;

                json_begin(&j);
                json_key(&j, "key", &f->key);
                json_u64(&j, "id", f->id);
                json_str(&j, "name", f->name);
                json_str(&j, "description", f->description);
                json_u64(&j, "flags", f->flags);
                json_key(&j, "provider_key", &f->provider_key);
                json_str(&j, "layer", f->layer);
                json_key(&j, "layer_key", &f->layer_key);
                json_key(&j, "sublayer_key", &f->sublayer_key);
                json_str(&j, "weight", weight);
                json_u64(&j, "effective_weight", f->effective_weight);
                json_u64(&j, "action", f->action);
                json_str(&j, "action_name", action);
                json_key(&j, "callout_key", &f->callout_key);
                json_key(&j, "provider_context_key", &f->provider_context_key);
                json_bool(&j, "engine_owned", f->engine_owned);
                json_name(&j, "conditions");
                putchar('[');
                for (size_t i = 0; i < f->n_conditions; i++) {
                        JsonObject c;

                        if (i > 0)
                                putchar(',');
                        json_begin(&c);
                        json_str(&c, "field", f->conditions[i].field);
                        json_u64(&c, "match", f->conditions[i].match);
                        json_str(&c, "value", f->conditions[i].value);
                        json_end(&c);
                }
                putchar(']');
                json_blob(&j, "provider_data", &f->provider_data);
                json_end(&j);
                return;
        }

        show_key("Key:", &f->key);
        show_line("Id:", "%" PRIu64, f->id);
        show_line("Name:", "%s", f->name ?: "");
        show_line("Description:", "%s", f->description ?: "");
        if (bfe_key_is_null(&f->layer_key))
                show_line("Layer:", "%s", f->layer ?: "-");
        else
                show_line("Layer:", "%s (%s)", f->layer ?: "-", bfe_key_to_string(&f->layer_key, buf));
        show_key("Sublayer:", &f->sublayer_key);
        show_line("Weight:", "%s", weight);
        show_line("Effective weight:", "0x%016" PRIx64, f->effective_weight);
        show_line("Action:", "%s (0x%" PRIx32 ")", action ?: "unknown", f->action);
        if (!bfe_key_is_null(&f->callout_key))
                show_key("Callout:", &f->callout_key);
        show_key("Provider context:", &f->provider_context_key);
        show_key("Provider:", &f->provider_key);
        show_line("Flags:", "%s", flags ?: "?");
        show_line("Engine owned:", "%s", f->engine_owned ? "yes" : "no");
        if (f->n_conditions == 0)
                show_line("Conditions:", "none (matches everything)");
        for (size_t i = 0; i < f->n_conditions; i++) {
                _cleanup_(freep) char *c = format_condition(&f->conditions[i]);

                show_line(i == 0 ? "Conditions:" : "", "%s", c ?: "?");
        }
        show_blob("Provider data:", &f->provider_data);
}

/* ---- option parsing shared by the add verbs ---------------------------------------------------- */

enum {
        OPT_HELP = 0x100,
        OPT_NAME,
        OPT_KEY,
        OPT_DESCRIPTION,
        OPT_FLAGS,
        OPT_PERSISTENT,
        OPT_PROVIDER,
        OPT_DATA,
        OPT_WEIGHT,
        OPT_TYPE,
        OPT_LAYER,
        OPT_ACTION,
        OPT_CALLOUT,
        OPT_CONTEXT,
        OPT_SUBLAYER,
        OPT_HARD,
        OPT_CONDITION,
        OPT_JSON,
};

static int verb_help(const Verb *v) {
        if (!v->object)
                printf("Usage: bfectl [--json] [--address BUSADDR] %s %s\n", v->verb, v->usage);
        else
                printf("Usage: bfectl [--json] [--address BUSADDR] %s %s %s\n", v->object, v->verb, v->usage);
        return EXIT_OK;
}

/* Parses a key option into @ret; reports a usage error for anything but a GUID. */
static int opt_key(const Verb *v, const char *opt, const char *s, BfeKey *ret) {
        if (bfe_key_from_string(s, ret) < 0)
                return usage_error(v, "--%s: '%s' is not a GUID", opt, s);
        return EXIT_OK;
}

static int opt_u32(const Verb *v, const char *opt, const char *s, uint32_t *ret) {
        uint64_t u;

        if (text_parse_u64(s, 0, UINT32_MAX, &u) < 0)
                return usage_error(v, "--%s: '%s' is not a number", opt, s);
        *ret = (uint32_t) u;
        return EXIT_OK;
}

static int opt_blob(const Verb *v, const char *opt, const char *s, BfeBlob *ret) {
        free(ret->data);
        *ret = (BfeBlob) {};
        if (blob_from_hex(s, ret) < 0)
                return usage_error(v, "--%s: '%s' is not a hex string", opt, s);
        return EXIT_OK;
}

/* The single positional argument of delete and show. */
static int one_arg(const Verb *v, int argc, char **argv, const char **ret) {
        static const struct option options[] = {
                { "help", no_argument, NULL, OPT_HELP },
                { "json", no_argument, NULL, OPT_JSON },
                {}
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case OPT_JSON:
                        arg_json = true;
                        break;
                case 'h':
                case OPT_HELP:
                        verb_help(v);
                        return -1;
                default:
                        return usage_error(v, "invalid option");
                }
        if (optind + 1 != argc)
                return usage_error(v, "expected exactly one argument: %s", v->usage);
        *ret = argv[optind];
        return EXIT_OK;
}

static int no_args(const Verb *v, int argc, char **argv) {
        if (optind != argc)
                return usage_error(v, "unexpected argument '%s'", argv[optind]);
        return EXIT_OK;
}

/* ---- status ---------------------------------------------------------------------------------- */

static int verb_status(const Verb *v, int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, OPT_HELP },
                { "json", no_argument, NULL, OPT_JSON },
                {}
        };
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        _cleanup_(freep) char *version = NULL, *table = NULL;
        bool exemptions;
        uint32_t count = 0;
        bool have_count;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case OPT_JSON:
                        arg_json = true;
                        break;
                case 'h':
                case OPT_HELP:
                        printf("Usage: bfectl [--json] [--address BUSADDR] status\n");
                        return EXIT_OK;
                default:
                        return usage_error(v, "invalid option");
                }
        r = no_args(v, argc, argv);
        if (r != EXIT_OK)
                return r;

        r = engine_connect(&e);
        if (r != EXIT_OK)
                return r;

        r = bfe_engine_get_exemptions_active(e, &exemptions);
        if (r < 0)
                return engine_error(e, r);
        r = bfe_engine_get_version(e, &version);
        if (r < 0)
                return engine_error(e, r);
        /* Extensions: shown as unknown if this daemon does not have them. */
        r = bfe_engine_get_table(e, &table);
        if (r < 0 && is_connection_error(r))
                return engine_error(e, r);
        r = bfe_engine_get_filter_count(e, &count);
        if (r < 0 && is_connection_error(r))
                return engine_error(e, r);
        have_count = r >= 0;

        if (arg_json) {
                JsonObject j;

                json_begin(&j);
                json_str(&j, "table", table);
                json_name(&j, "filter_count");
                if (have_count)
                        printf("%" PRIu32, count);
                else
                        fputs("null", stdout);
                json_bool(&j, "exemptions_active", exemptions);
                json_str(&j, "version", version);
                json_end(&j);
                putchar('\n');
                return EXIT_OK;
        }

        show_line("Table:", "%s", table ?: "unknown");
        if (have_count)
                show_line("Filters:", "%" PRIu32, count);
        else
                show_line("Filters:", "unknown");
        show_line("Exemptions active:", "%s", exemptions ? "yes" : "no");
        show_line("Version:", "%s", version ?: "");
        return EXIT_OK;
}

/* ---- add verbs ------------------------------------------------------------------------------- */

static void print_added(const BfeKey *key, bool with_id, uint64_t id) {
        char buf[BFE_KEY_STRING_MAX];

        bfe_key_to_string(key, buf);
        if (arg_json) {
                JsonObject j;

                json_begin(&j);
                json_str(&j, "key", buf);
                if (with_id)
                        json_u64(&j, "id", id);
                json_end(&j);
                putchar('\n');
        } else if (with_id)
                printf("%s %" PRIu64 "\n", buf, id);
        else
                printf("%s\n", buf);
}

/* The options every add verb has; returns 0 if @c was one of them, 1 if not. */
typedef struct CommonArgs {
        BfeKey key;
        const char *name;
        const char *description;
        uint32_t flags;
        BfeKey provider_key;
        BfeBlob data;
} CommonArgs;

static void common_args_done(CommonArgs *a) {
        free(a->data.data);
}

static int common_option(const Verb *v, int c, CommonArgs *a, int *ret_exit) {
        switch (c) {
        case OPT_NAME:
                a->name = optarg;
                break;
        case OPT_KEY:
                *ret_exit = opt_key(v, "key", optarg, &a->key);
                break;
        case OPT_DESCRIPTION:
                a->description = optarg;
                break;
        case OPT_FLAGS: {
                uint32_t f = 0;

                *ret_exit = opt_u32(v, "flags", optarg, &f);
                a->flags |= f;
                break;
        }
        case OPT_PERSISTENT:
                a->flags |= BFE_FLAG_PERSISTENT;
                break;
        case OPT_PROVIDER:
                *ret_exit = opt_key(v, "provider", optarg, &a->provider_key);
                break;
        case OPT_DATA:
                *ret_exit = opt_blob(v, "data", optarg, &a->data);
                break;
        case OPT_JSON:
                arg_json = true;
                break;
        case 'h':
        case OPT_HELP:
                verb_help(v);
                *ret_exit = -1;
                break;
        default:
                return 1;
        }
        return 0;
}

#define COMMON_OPTIONS                                                  \
        { "help", no_argument, NULL, OPT_HELP },                        \
        { "json", no_argument, NULL, OPT_JSON },                        \
        { "name", required_argument, NULL, OPT_NAME },                  \
        { "key", required_argument, NULL, OPT_KEY },                    \
        { "description", required_argument, NULL, OPT_DESCRIPTION },    \
        { "flags", required_argument, NULL, OPT_FLAGS },                \
        { "persistent", no_argument, NULL, OPT_PERSISTENT },            \
        { "data", required_argument, NULL, OPT_DATA }

/* Runs getopt over the common options plus @options; @extra handles the rest. */
static int parse_add_options(const Verb *v, int argc, char **argv, const struct option *options,
                             CommonArgs *a, int (*extra)(const Verb *v, int c, void *userdata),
                             void *userdata) {
        int c, x = EXIT_OK;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                if (c == '?')
                        return usage_error(v, "invalid option");
                if (common_option(v, c, a, &x) > 0)
                        x = extra ? extra(v, c, userdata) : usage_error(v, "invalid option");
                if (x != EXIT_OK)
                        return x;
        }
        x = no_args(v, argc, argv);
        if (x != EXIT_OK)
                return x;
        if (!a->name)
                return usage_error(v, "--name is required");
        return EXIT_OK;
}

static int verb_provider_add(const Verb *v, int argc, char **argv) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_(common_args_done) CommonArgs a = {};
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        BfeProvider p;
        BfeKey key;
        int r;

        r = parse_add_options(v, argc, argv, options, &a, NULL, NULL);
        if (r != EXIT_OK)
                return r < 0 ? EXIT_OK : r;

        p = (BfeProvider) {
                .key = a.key,
                .name = (char *) a.name,
                .description = (char *) a.description,
                .flags = a.flags,
                .provider_data = a.data,
        };

        r = engine_connect(&e);
        if (r != EXIT_OK)
                return r;
        r = bfe_provider_add(e, &p, &key);
        if (r < 0)
                return engine_error(e, r);
        print_added(&key, false, 0);
        return EXIT_OK;
}

static int sublayer_extra(const Verb *v, int c, void *userdata) {
        uint32_t *weight = userdata;
        uint64_t u;

        if (c != OPT_WEIGHT)
                return usage_error(v, "invalid option");
        if (text_parse_u64(optarg, 0, UINT16_MAX, &u) < 0)
                return usage_error(v, "--weight: '%s' is not a number 0-65535", optarg);
        *weight = (uint32_t) u;
        return EXIT_OK;
}

static int verb_sublayer_add(const Verb *v, int argc, char **argv) {
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "provider", required_argument, NULL, OPT_PROVIDER },
                { "weight", required_argument, NULL, OPT_WEIGHT },
                {}
        };
        _cleanup_(common_args_done) CommonArgs a = {};
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        uint32_t weight = UINT32_MAX;
        BfeSublayer s;
        BfeKey key;
        int r;

        r = parse_add_options(v, argc, argv, options, &a, sublayer_extra, &weight);
        if (r != EXIT_OK)
                return r < 0 ? EXIT_OK : r;
        if (weight == UINT32_MAX)
                return usage_error(v, "--weight is required");

        s = (BfeSublayer) {
                .key = a.key,
                .name = (char *) a.name,
                .description = (char *) a.description,
                .flags = a.flags,
                .provider_key = a.provider_key,
                .provider_data = a.data,
                .weight = (uint16_t) weight,
        };

        r = engine_connect(&e);
        if (r != EXIT_OK)
                return r;
        r = bfe_sublayer_add(e, &s, &key);
        if (r < 0)
                return engine_error(e, r);
        print_added(&key, false, 0);
        return EXIT_OK;
}

static int context_extra(const Verb *v, int c, void *userdata) {
        uint32_t *type = userdata;

        if (c != OPT_TYPE)
                return usage_error(v, "invalid option");
        if (parse_context_type(optarg, type) < 0)
                return usage_error(v, "--type: unknown provider context type '%s'", optarg);
        return EXIT_OK;
}

static int verb_context_add(const Verb *v, int argc, char **argv) {
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "provider", required_argument, NULL, OPT_PROVIDER },
                { "type", required_argument, NULL, OPT_TYPE },
                {}
        };
        _cleanup_(common_args_done) CommonArgs a = {};
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        uint32_t type = UINT32_MAX;
        BfeProviderContext ctx;
        uint64_t id;
        BfeKey key;
        int r;

        r = parse_add_options(v, argc, argv, options, &a, context_extra, &type);
        if (r != EXIT_OK)
                return r < 0 ? EXIT_OK : r;
        if (type == UINT32_MAX)
                return usage_error(v, "--type is required");

        ctx = (BfeProviderContext) {
                .key = a.key,
                .name = (char *) a.name,
                .description = (char *) a.description,
                .flags = a.flags,
                .provider_key = a.provider_key,
                .type = type,
                .data = a.data,
        };

        r = engine_connect(&e);
        if (r != EXIT_OK)
                return r;
        r = bfe_provider_context_add(e, &ctx, &key, &id);
        if (r < 0)
                return engine_error(e, r);
        print_added(&key, true, id);
        return EXIT_OK;
}

typedef struct FilterArgs {
        BfeFilter f;
        bool have_action;
        size_t n_alloc;
} FilterArgs;

static void filter_args_done(FilterArgs *a) {
        for (size_t i = 0; i < a->f.n_conditions; i++)
                condition_done(&a->f.conditions[i]);
        free(a->f.conditions);
}

static int filter_extra(const Verb *v, int c, void *userdata) {
        FilterArgs *a = userdata;
        BfeFilter *f = &a->f;
        int r;

        switch (c) {
        case OPT_LAYER:
                f->layer = optarg;
                return EXIT_OK;
        case OPT_ACTION:
                if (action_from_string(optarg, &f->action) < 0)
                        return usage_error(v, "--action: '%s' is not permit, block, callout or a number", optarg);
                a->have_action = true;
                return EXIT_OK;
        case OPT_CALLOUT:
                return opt_key(v, "callout", optarg, &f->callout_key);
        case OPT_WEIGHT:
                r = weight_from_string(optarg, &f->weight_kind, &f->weight);
                if (r < 0)
                        return usage_error(v, "--weight: '%s' is not auto, a range 0-15, =N or explicit:N", optarg);
                return EXIT_OK;
        case OPT_CONTEXT:
                return opt_key(v, "context", optarg, &f->provider_context_key);
        case OPT_SUBLAYER:
                return opt_key(v, "sublayer", optarg, &f->sublayer_key);
        case OPT_HARD:
                f->flags |= BFE_FILTER_FLAG_CLEAR_ACTION_RIGHT;
                return EXIT_OK;
        case OPT_CONDITION: {
                BfeCondition cond;

                if (parse_condition(optarg, &cond) < 0)
                        return usage_error(v, "--condition: '%s' is not FIELD=VALUE, FIELD!=VALUE or FIELD:MATCH=VALUE", optarg);
                if (f->n_conditions == a->n_alloc) {
                        size_t n = a->n_alloc ? a->n_alloc * 2 : 4;
                        BfeCondition *p = reallocarray(f->conditions, n, sizeof(*p));

                        if (!p) {
                                condition_done(&cond);
                                fprintf(stderr, "bfectl: out of memory\n");
                                return EXIT_ENGINE;
                        }
                        f->conditions = p;
                        a->n_alloc = n;
                }
                f->conditions[f->n_conditions++] = cond;
                return EXIT_OK;
        }
        default:
                return usage_error(v, "invalid option");
        }
}

static int verb_filter_add(const Verb *v, int argc, char **argv) {
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "provider", required_argument, NULL, OPT_PROVIDER },
                { "layer", required_argument, NULL, OPT_LAYER },
                { "action", required_argument, NULL, OPT_ACTION },
                { "callout", required_argument, NULL, OPT_CALLOUT },
                { "weight", required_argument, NULL, OPT_WEIGHT },
                { "context", required_argument, NULL, OPT_CONTEXT },
                { "sublayer", required_argument, NULL, OPT_SUBLAYER },
                { "hard", no_argument, NULL, OPT_HARD },
                { "condition", required_argument, NULL, OPT_CONDITION },
                {}
        };
        _cleanup_(common_args_done) CommonArgs a = {};
        _cleanup_(filter_args_done) FilterArgs fa = {};
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        BfeFilter *f = &fa.f;
        uint64_t id;
        BfeKey key;
        int r;

        r = parse_add_options(v, argc, argv, options, &a, filter_extra, &fa);
        if (r != EXIT_OK)
                return r < 0 ? EXIT_OK : r;
        if (!f->layer)
                return usage_error(v, "--layer is required");
        if (!fa.have_action)
                f->action = bfe_key_is_null(&f->callout_key) ? BFE_ACTION_PERMIT : BFE_ACTION_CALLOUT_TERMINATING;

        f->key = a.key;
        f->name = (char *) a.name;
        f->description = (char *) a.description;
        f->flags |= a.flags;
        f->provider_key = a.provider_key;
        f->provider_data = a.data;

        r = engine_connect(&e);
        if (r != EXIT_OK)
                return r;
        r = bfe_filter_add(e, f, &key, &id);
        if (r < 0)
                return engine_error(e, r);
        print_added(&key, true, id);
        return EXIT_OK;
}

/* ---- delete / show --------------------------------------------------------------------------- */

static int verb_delete_or_show(const Verb *v, int argc, char **argv) {
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        bool show = streq(v->verb, "show");
        bool is_key = true;
        const char *arg = NULL;
        uint64_t id = 0;
        BfeKey key;
        int r;

        r = one_arg(v, argc, argv, &arg);
        if (r != EXIT_OK)
                return r < 0 ? EXIT_OK : r;

        if (streq(v->object, "filter")) {
                if (parse_key_or_id(arg, &key, &id, &is_key) < 0)
                        return usage_error(v, "'%s' is neither a filter key (GUID) nor a filter id", arg);
        } else if (bfe_key_from_string(arg, &key) < 0)
                return usage_error(v, "'%s' is not a GUID", arg);

        r = engine_connect(&e);
        if (r != EXIT_OK)
                return r;

        if (streq(v->object, "provider")) {
                _cleanup_(bfe_provider_freep) BfeProvider *p = NULL;

                r = show ? bfe_provider_get(e, &key, &p) : bfe_provider_delete(e, &key);
                if (r >= 0 && p)
                        provider_print(p);
        } else if (streq(v->object, "sublayer")) {
                _cleanup_(bfe_sublayer_freep) BfeSublayer *s = NULL;

                r = show ? bfe_sublayer_get(e, &key, &s) : bfe_sublayer_delete(e, &key);
                if (r >= 0 && s)
                        sublayer_print(s);
        } else if (streq(v->object, "context")) {
                _cleanup_(bfe_provider_context_freep) BfeProviderContext *c = NULL;

                r = show ? bfe_provider_context_get(e, &key, &c) : bfe_provider_context_delete(e, &key);
                if (r >= 0 && c)
                        context_print(c);
        } else {
                _cleanup_(bfe_filter_freep) BfeFilter *f = NULL;

                if (show)
                        r = is_key ? bfe_filter_get_by_key(e, &key, &f) : bfe_filter_get_by_id(e, id, &f);
                else
                        r = is_key ? bfe_filter_delete_by_key(e, &key) : bfe_filter_delete_by_id(e, id);
                if (r >= 0 && f)
                        filter_print(f);
        }
        if (r < 0)
                return engine_error(e, r);
        if (show && arg_json)
                putchar('\n');
        return EXIT_OK;
}

/* ---- list ------------------------------------------------------------------------------------ */

static int list_options(const Verb *v, int argc, char **argv, BfeFilterTemplate *ft,
                        BfeProviderContextTemplate *ct) {
        static const struct option options[] = {
                { "help", no_argument, NULL, OPT_HELP },
                { "json", no_argument, NULL, OPT_JSON },
                { "layer", required_argument, NULL, OPT_LAYER },
                { "provider", required_argument, NULL, OPT_PROVIDER },
                { "sublayer", required_argument, NULL, OPT_SUBLAYER },
                { "type", required_argument, NULL, OPT_TYPE },
                {}
        };
        bool is_filter = streq(v->object, "filter"), is_context = streq(v->object, "context");
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = EXIT_OK;
                switch (c) {
                case OPT_JSON:
                        arg_json = true;
                        break;
                case 'h':
                case OPT_HELP:
                        verb_help(v);
                        return -1;
                case OPT_LAYER:
                        if (!is_filter)
                                return usage_error(v, "--layer is only for filter list");
                        ft->layer = optarg;
                        break;
                case OPT_SUBLAYER:
                        if (!is_filter)
                                return usage_error(v, "--sublayer is only for filter list");
                        r = opt_key(v, "sublayer", optarg, &ft->sublayer_key);
                        break;
                case OPT_PROVIDER:
                        if (is_filter)
                                r = opt_key(v, "provider", optarg, &ft->provider_key);
                        else if (is_context)
                                r = opt_key(v, "provider", optarg, &ct->provider_key);
                        else
                                return usage_error(v, "--provider is only for context and filter list");
                        break;
                case OPT_TYPE:
                        if (!is_context)
                                return usage_error(v, "--type is only for context list");
                        if (parse_context_type(optarg, &ct->type) < 0)
                                return usage_error(v, "--type: unknown provider context type '%s'", optarg);
                        ct->match_type = true;
                        break;
                default:
                        return usage_error(v, "invalid option");
                }
                if (r != EXIT_OK)
                        return r;
        }
        return no_args(v, argc, argv);
}

static size_t max_size(size_t a, size_t b) {
        return a > b ? a : b;
}

static void filters_table(const BfeFilter *a, size_t n) {
        size_t w_id = 2, w_layer = 5;
        char buf[32];

        for (size_t i = 0; i < n; i++) {
                w_id = max_size(w_id, (size_t) snprintf(buf, sizeof(buf), "%" PRIu64, a[i].id));
                w_layer = max_size(w_layer, strlen(a[i].layer ?: "-"));
        }

        printf("%-*s  %-*s  %-18s  %-7s  %s  %s\n", (int) w_id, "ID", (int) w_layer, "LAYER",
               "WEIGHT", "ACTION", "E", "NAME");
        for (size_t i = 0; i < n; i++) {
                const char *action = action_to_string(a[i].action);
                char abuf[16];

                if (!action) {
                        snprintf(abuf, sizeof(abuf), "0x%" PRIx32, a[i].action);
                        action = abuf;
                }
                printf("%-*" PRIu64 "  %-*s  0x%016" PRIx64 "  %-7s  %s  %s\n", (int) w_id, a[i].id,
                       (int) w_layer, a[i].layer ?: "-", a[i].effective_weight, action,
                       a[i].engine_owned ? "*" : " ", a[i].name ?: "");
        }
        printf("\n%zu filter%s (* = engine-owned)\n", n, n == 1 ? "" : "s");
}

static void contexts_table(const BfeProviderContext *a, size_t n) {
        size_t w_id = 2, w_type = 4;
        char buf[32];

        for (size_t i = 0; i < n; i++) {
                w_id = max_size(w_id, (size_t) snprintf(buf, sizeof(buf), "%" PRIu64, a[i].id));
                w_type = max_size(w_type, strlen(wfp_context_type_short_name(a[i].type) ?: "unknown") + 5);
        }
        printf("%-*s  %-36s  %-*s  %s\n", (int) w_id, "ID", "KEY", (int) w_type, "TYPE", "NAME");
        for (size_t i = 0; i < n; i++) {
                char kbuf[BFE_KEY_STRING_MAX], tbuf[64];

                snprintf(tbuf, sizeof(tbuf), "%s (%" PRIu32 ")",
                         wfp_context_type_short_name(a[i].type) ?: "unknown", a[i].type);
                printf("%-*" PRIu64 "  %-36s  %-*s  %s\n", (int) w_id, a[i].id,
                       bfe_key_to_string(&a[i].key, kbuf), (int) w_type, tbuf, a[i].name ?: "");
        }
}

static int verb_list(const Verb *v, int argc, char **argv) {
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        BfeFilterTemplate ft = {};
        BfeProviderContextTemplate ct = {};
        int r;

        r = list_options(v, argc, argv, &ft, &ct);
        if (r != EXIT_OK)
                return r < 0 ? EXIT_OK : r;

        r = engine_connect(&e);
        if (r != EXIT_OK)
                return r;

        /* Each branch prints "[obj,obj]" in JSON mode, a table otherwise. */
#define PRINT_ARRAY(a, n, print_one, table)                             \
        do {                                                            \
                if (arg_json) {                                         \
                        putchar('[');                                   \
                        for (size_t _i = 0; _i < (n); _i++) {           \
                                if (_i > 0)                             \
                                        putchar(',');                   \
                                print_one(&(a)[_i]);                    \
                        }                                               \
                        puts("]");                                      \
                } else                                                  \
                        table;                                          \
        } while (0)

        if (streq(v->object, "provider")) {
                BfeProvider *a = NULL;
                size_t n = 0;

                r = bfe_provider_enum(e, &a, &n);
                if (r < 0)
                        return engine_error(e, r);
                PRINT_ARRAY(a, n, provider_print, ({
                        printf("%-36s  %-5s  %s\n", "KEY", "FLAGS", "NAME");
                        for (size_t i = 0; i < n; i++) {
                                char kbuf[BFE_KEY_STRING_MAX];

                                printf("%-36s  0x%-3" PRIx32 "  %s\n", bfe_key_to_string(&a[i].key, kbuf),
                                       a[i].flags, a[i].name ?: "");
                        }
                }));
                bfe_provider_array_free(a, n);
        } else if (streq(v->object, "sublayer")) {
                BfeSublayer *a = NULL;
                size_t n = 0;

                r = bfe_sublayer_enum(e, &a, &n);
                if (r < 0)
                        return engine_error(e, r);
                PRINT_ARRAY(a, n, sublayer_print, ({
                        printf("%-36s  %-6s  %-5s  %s\n", "KEY", "WEIGHT", "FLAGS", "NAME");
                        for (size_t i = 0; i < n; i++) {
                                char kbuf[BFE_KEY_STRING_MAX];

                                printf("%-36s  0x%04x  0x%-3" PRIx32 "  %s\n", bfe_key_to_string(&a[i].key, kbuf),
                                       (unsigned) a[i].weight, a[i].flags, a[i].name ?: "");
                        }
                }));
                bfe_sublayer_array_free(a, n);
        } else if (streq(v->object, "context")) {
                BfeProviderContext *a = NULL;
                size_t n = 0;

                r = bfe_provider_context_enum(e, &ct, &a, &n);
                if (r < 0)
                        return engine_error(e, r);
                PRINT_ARRAY(a, n, context_print, contexts_table(a, n));
                bfe_provider_context_array_free(a, n);
        } else {
                BfeFilter *a = NULL;
                size_t n = 0;

                r = bfe_filter_enum(e, &ft, &a, &n);
                if (r < 0)
                        return engine_error(e, r);
                PRINT_ARRAY(a, n, filter_print, filters_table(a, n));
                bfe_filter_array_free(a, n);
        }
#undef PRINT_ARRAY
        return EXIT_OK;
}

/* ---- explain --------------------------------------------------------------------------------- */

DEFINE_TRIVIAL_CLEANUP_FUNC(BfeExplainResult *, bfe_explain_result_free);

typedef struct ExplainArgs {
        const char *layer;
        BfeExplainField *fields;
        char **names;           /* owned copies of the field names */
        size_t n_fields;
} ExplainArgs;

static void explain_args_done(ExplainArgs *a) {
        for (size_t i = 0; i < a->n_fields; i++)
                free(a->names[i]);
        free(a->names);
        free(a->fields);
}

static int explain_parse(const Verb *v, int argc, char **argv, ExplainArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, OPT_HELP },
                { "json", no_argument, NULL, OPT_JSON },
                {}
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case OPT_JSON:
                        arg_json = true;
                        break;
                case 'h':
                case OPT_HELP:
                        verb_help(v);
                        return -1;
                default:
                        return usage_error(v, "invalid option");
                }
        if (optind >= argc)
                return usage_error(v, "missing LAYER");
        a->layer = argv[optind++];

        a->fields = calloc(argc - optind + 1, sizeof(*a->fields));
        a->names = calloc(argc - optind + 1, sizeof(*a->names));
        if (!a->fields || !a->names) {
                fprintf(stderr, "bfectl: out of memory\n");
                return EXIT_ENGINE;
        }
        for (; optind < argc; optind++) {
                const char *value;
                char *name;

                if (parse_explain_field(argv[optind], &name, &value) < 0)
                        return usage_error(v, "'%s' is not FIELD=VALUE", argv[optind]);
                for (size_t i = 0; i < a->n_fields; i++)
                        if (streq(a->names[i], name)) {
                                free(name);
                                return usage_error(v, "field %s given twice", a->names[i]);
                        }
                a->names[a->n_fields] = name;
                a->fields[a->n_fields++] = (BfeExplainField) { .name = name, .value = value };
        }
        return EXIT_OK;
}

/* The sublayer weights, for the trace lines; -1 where unknown. */
static void explain_weights(BfeEngine *e, const BfeExplainResult *res, long *ret_weights) {
        BfeSublayer *a = NULL;
        size_t n = 0;

        for (size_t i = 0; i < res->n_trace; i++)
                ret_weights[i] = -1;
        if (bfe_sublayer_enum(e, &a, &n) < 0)
                return;         /* the weights are a convenience: print the trace without them */
        for (size_t i = 0; i < res->n_trace; i++)
                for (size_t j = 0; j < n; j++)
                        if (memcmp(&a[j].key, &res->trace[i].sublayer_key, sizeof(BfeKey)) == 0)
                                ret_weights[i] = a[j].weight;
        bfe_sublayer_array_free(a, n);
}

/* The name of the deciding filter, from the trace. */
static const char *explain_decider_name(const BfeExplainResult *res) {
        if (res->filter_id == 0)
                return NULL;
        for (size_t i = 0; i < res->n_trace; i++)
                if (res->trace[i].filter_id == res->filter_id)
                        return res->trace[i].filter_name;
        return NULL;
}

static void explain_print_json(const char *layer, const BfeExplainResult *res, const long *weights) {
        JsonObject j;

        json_begin(&j);
        json_str(&j, "layer", layer);
        json_str(&j, "verdict", res->verdict_name);
        json_u64(&j, "filter_id", res->filter_id);
        json_str(&j, "filter_name", explain_decider_name(res));
        json_name(&j, "trace");
        putchar('[');
        for (size_t i = 0; i < res->n_trace; i++) {
                const BfeExplainStep *s = &res->trace[i];
                JsonObject t;

                if (i > 0)
                        putchar(',');
                json_begin(&t);
                json_key(&t, "sublayer_key", &s->sublayer_key);
                json_str(&t, "sublayer_name", s->sublayer_name);
                json_name(&t, "weight");
                if (weights[i] >= 0)
                        printf("%ld", weights[i]);
                else
                        fputs("null", stdout);
                json_u64(&t, "filter_id", s->filter_id);
                json_str(&t, "filter_name", s->filter_id ? s->filter_name : NULL);
                json_str(&t, "outcome", s->outcome_name);
                json_end(&t);
        }
        putchar(']');
        json_end(&j);
        putchar('\n');
}

static void explain_print(const char *layer, const BfeExplainResult *res, const long *weights) {
        size_t w_name = 8, w_outcome = 7;
        const char *decider;

        for (size_t i = 0; i < res->n_trace; i++) {
                w_name = max_size(w_name, strlen(res->trace[i].sublayer_name));
                w_outcome = max_size(w_outcome, strlen(res->trace[i].outcome_name));
        }

        printf("Layer %s, %zu sublayer%s in evaluation order:\n", layer, res->n_trace,
               res->n_trace == 1 ? "" : "s");
        printf("%-6s  %-*s  %-*s  %s\n", "WEIGHT", (int) w_name, "SUBLAYER", (int) w_outcome,
               "OUTCOME", "FILTER");
        for (size_t i = 0; i < res->n_trace; i++) {
                const BfeExplainStep *s = &res->trace[i];
                char wbuf[24] = "?";

                if (weights[i] >= 0)
                        snprintf(wbuf, sizeof(wbuf), "0x%04lx", weights[i]);
                printf("%-6s  %-*s  %-*s  ", wbuf, (int) w_name, s->sublayer_name, (int) w_outcome,
                       s->outcome_name);
                if (s->filter_id)
                        printf("%" PRIu64 " %s\n", s->filter_id, s->filter_name);
                else
                        printf("-\n");
        }

        decider = explain_decider_name(res);
        if (res->filter_id == 0)
                printf("Verdict: %s (no filter matched: the default permit)\n", res->verdict_name);
        else if (decider)
                printf("Verdict: %s, decided by filter %" PRIu64 " (%s)\n", res->verdict_name,
                       res->filter_id, decider);
        else
                printf("Verdict: %s, decided by filter %" PRIu64 "\n", res->verdict_name, res->filter_id);
}

static int verb_explain(const Verb *v, int argc, char **argv) {
        _cleanup_(explain_args_done) ExplainArgs a = {};
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        _cleanup_(bfe_explain_result_freep) BfeExplainResult *res = NULL;
        _cleanup_(freep) long *weights = NULL;
        int r;

        r = explain_parse(v, argc, argv, &a);
        if (r != EXIT_OK)
                return r < 0 ? EXIT_OK : r;

        r = engine_connect(&e);
        if (r != EXIT_OK)
                return r;
        r = bfe_explain(e, a.layer, a.fields, a.n_fields, &res);
        if (r < 0)
                return engine_error(e, r);

        weights = calloc(res->n_trace + 1, sizeof(*weights));
        if (!weights) {
                fprintf(stderr, "bfectl: out of memory\n");
                return EXIT_ENGINE;
        }
        explain_weights(e, res, weights);

        if (arg_json)
                explain_print_json(a.layer, res, weights);
        else
                explain_print(a.layer, res, weights);
        return EXIT_OK;
}

/* ---- monitor --------------------------------------------------------------------------------- */

static volatile sig_atomic_t monitor_stop;

static void monitor_signal(int sig) {
        monitor_stop = sig;
}

static const char *change_name(uint32_t change, bool past) {
        switch (change) {
        case BFE_CHANGE_ADD:
                return past ? "added" : "add";
        case BFE_CHANGE_DELETE:
                return past ? "deleted" : "delete";
        default:
                return NULL;
        }
}

/* One line per change, flushed, so a pipe reader sees it at once. */
static void monitor_print(BfeEngine *e, const BfeChange *c, void *userdata) {
        const char *change = change_name(c->change_type, !arg_json);
        char buf[BFE_KEY_STRING_MAX];

        bfe_key_to_string(&c->key, buf);
        if (arg_json) {
                JsonObject j;

                json_begin(&j);
                json_name(&j, "change");
                if (change)
                        json_print_string(stdout, change);
                else
                        printf("%" PRIu32, c->change_type);
                json_str(&j, "kind", c->kind_name);
                json_u64(&j, "id", c->id);
                json_str(&j, "key", buf);
                json_end(&j);
                putchar('\n');
        } else {
                if (change)
                        printf("%s %s", change, c->kind_name);
                else
                        printf("change %" PRIu32 " %s", c->change_type, c->kind_name);
                if (c->id != 0 || c->kind == BFE_OBJECT_FILTER || c->kind == BFE_OBJECT_PROVIDER_CONTEXT)
                        printf(" %" PRIu64, c->id);
                printf(" %s\n", buf);
        }
        fflush(stdout);
}

static int verb_monitor(const Verb *v, int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, OPT_HELP },
                { "json", no_argument, NULL, OPT_JSON },
                {}
        };
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        struct sigaction sa = { .sa_handler = monitor_signal };
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case OPT_JSON:
                        arg_json = true;
                        break;
                case 'h':
                case OPT_HELP:
                        verb_help(v);
                        return EXIT_OK;
                default:
                        return usage_error(v, "invalid option");
                }
        r = no_args(v, argc, argv);
        if (r != EXIT_OK)
                return r;

        r = engine_connect(&e);
        if (r != EXIT_OK)
                return r;

        /* No SA_RESTART: the wait returns on the signal, and we exit cleanly. */
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);

        r = bfe_subscribe_changes(e, NULL, monitor_print, NULL, NULL);
        if (r < 0)
                return engine_error(e, r);
        /* The match is in place: every change from now on is printed. */
        fprintf(stderr, "Monitoring bfed changes; press Ctrl-C to stop.\n");

        while (!monitor_stop) {
                r = bfe_engine_wait(e, 500 * 1000);
                if (r == -EINTR)
                        continue;
                if (r < 0) {
                        fprintf(stderr, "bfectl: lost the bus connection: %s\n", strerror(-r));
                        return EXIT_CONNECT;
                }
        }
        return EXIT_OK;
}

/* ---- main ------------------------------------------------------------------------------------ */

static const Verb verbs[] = {
        { NULL, "status", verb_status, "" },
        { NULL, "monitor", verb_monitor,
          "[--json]\n"
          "  Print the engine's changes as they happen, one line each, until interrupted:\n"
          "  'added filter 17 KEY', 'deleted provider KEY'; with --json one object a line,\n"
          "  {\"change\":\"add\",\"kind\":\"filter\",\"id\":17,\"key\":\"...\"}." },
        { NULL, "explain", verb_explain,
          "LAYER [FIELD=VALUE ...]\n"
          "  The engine's decision for a packet at LAYER, without sending one: what each sublayer\n"
          "  did (highest weight first) and the final verdict.\n"
          "  LAYER: INBOUND_TRANSPORT_V4, OUTBOUND_TRANSPORT_V6, ALE_AUTH_RECV_ACCEPT_V4,\n"
          "         ALE_AUTH_CONNECT_V6, ...\n"
          "  FIELD: IP_PROTOCOL (udp, 17), IP_LOCAL_PORT, IP_REMOTE_PORT, IP_LOCAL_ADDRESS,\n"
          "         IP_REMOTE_ADDRESS, IP_LOCAL_INTERFACE, FLAGS (loopback,ipsec-secured; may be\n"
          "         empty), ALE_USER_ID (uid or name), BFED_LOCAL_SYSTEM, BFED_LOCALLY_INITIATED\n"
          "         (true/false). Fields left out are unknown to the engine." },
        { "provider", "add", verb_provider_add,
          "--name N [--key GUID] [--description D] [--flags N] [--persistent] [--data HEX]" },
        { "provider", "delete", verb_delete_or_show, "KEY" },
        { "provider", "list", verb_list, "" },
        { "provider", "show", verb_delete_or_show, "KEY" },
        { "sublayer", "add", verb_sublayer_add,
          "--name N --weight W [--key GUID] [--provider KEY] [--description D] [--flags N]\n"
          "        [--persistent] [--data HEX]" },
        { "sublayer", "delete", verb_delete_or_show, "KEY" },
        { "sublayer", "list", verb_list, "" },
        { "sublayer", "show", verb_delete_or_show, "KEY" },
        { "context", "add", verb_context_add,
          "--name N --type T [--key GUID] [--provider KEY] [--data HEX] [--description D]\n"
          "        [--flags N] [--persistent]\n"
          "  T: a number or keying, ike-qm-transport, ike-qm-tunnel, authip-qm-transport,\n"
          "     authip-qm-tunnel, ike-mm, authip-mm, classify-options, general, ikev2-qm-tunnel,\n"
          "     ikev2-mm, dosp, ikev2-qm-transport, network-connection-policy, or the WFP name\n"
          "     (IPSEC_IKE_MM)\n"
          "  Prints the new context's key and id." },
        { "context", "delete", verb_delete_or_show, "KEY" },
        { "context", "list", verb_list, "[--type T] [--provider KEY]" },
        { "context", "show", verb_delete_or_show, "KEY" },
        { "filter", "add", verb_filter_add,
          "--name N --layer L [--key GUID] [--description D]\n"
          "        [--action permit|block|callout|NUMBER] [--callout KEY] [--weight auto|R|=N]\n"
          "        [--context KEY] [--provider KEY] [--sublayer KEY] [--flags N] [--persistent]\n"
          "        [--hard] [--condition COND]...\n"
          "  L: IKEEXT_V4, INBOUND_TRANSPORT_V6, ALE_AUTH_CONNECT_V4, ... or a layer GUID\n"
          "  --weight: auto (default), R = range 0-15, =N or explicit:N = explicit 64-bit weight\n"
          "  --hard: set FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT (a hard permit)\n"
          "  COND: FIELD=VALUE (equal), FIELD!=VALUE (not equal), FIELD:MATCH=VALUE (FWP_MATCH_TYPE)\n"
          "        e.g. IP_PROTOCOL=udp IP_LOCAL_PORT=500 IP_REMOTE_PORT:5=500-510\n"
          "             IP_REMOTE_ADDRESS=192.0.2.0/24\n"
          "  The action defaults to permit (callout if --callout is given).\n"
          "  Prints the new filter's key and id." },
        { "filter", "delete", verb_delete_or_show, "KEY|ID" },
        { "filter", "list", verb_list, "[--layer L] [--provider KEY] [--sublayer KEY]" },
        { "filter", "show", verb_delete_or_show, "KEY|ID" },
};

static void help(void) {
        printf("Usage: bfectl [--json] [--address BUSADDR] COMMAND ...\n"
               "\n"
               "Manage the bfed filtering engine.\n"
               "\n"
               "Options:\n"
               "  -h --help             show this help\n"
               "     --version          show the version\n"
               "  -j --json             print JSON\n"
               "  -A --address BUSADDR  connect to this D-Bus address instead of the system bus\n"
               "\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const char *nl = strchr(verbs[i].usage, '\n');
                int len = nl ? (int) (nl - verbs[i].usage) : (int) strlen(verbs[i].usage);

                if (verbs[i].object)
                        printf("  %s %s %.*s%s\n", verbs[i].object, verbs[i].verb, len, verbs[i].usage,
                               nl ? " ..." : "");
                else if (verbs[i].usage[0])
                        printf("  %s %.*s%s\n", verbs[i].verb, len, verbs[i].usage, nl ? " ..." : "");
                else
                        printf("  %s\n", verbs[i].verb);
        }
        printf("\n'bfectl OBJECT VERB --help' shows all options of a command.\n"
               "Exit status: 0 ok, 1 engine error, 2 usage error, 3 cannot connect.\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "json", no_argument, NULL, 'j' },
                { "address", required_argument, NULL, 'A' },
                {}
        };
        const char *object, *verb;
        int c;

        /* '+': stop at the command, so its own options are left for it. */
        while ((c = getopt_long(argc, argv, "+hjA:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'V':
                        printf("bfectl %s\n", BFED_VERSION);
                        return EXIT_OK;
                case 'j':
                        arg_json = true;
                        break;
                case 'A':
                        arg_address = optarg;
                        break;
                default:
                        return usage_error(NULL, "invalid option");
                }

        if (optind >= argc)
                return usage_error(NULL, "missing command");
        object = argv[optind];

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (!verbs[i].object && streq(verbs[i].verb, object))
                        return verbs[i].run(&verbs[i], argc - optind, argv + optind);

        if (optind + 1 >= argc)
                return usage_error(NULL, "missing verb after '%s'", object);
        verb = argv[optind + 1];

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                if (!verbs[i].object || !streq(verbs[i].object, object))
                        continue;
                if (streq(verbs[i].verb, verb))
                        return verbs[i].run(&verbs[i], argc - optind - 1, argv + optind + 1);
        }
        return usage_error(NULL, "unknown command '%s %s'", object, verb);
}
