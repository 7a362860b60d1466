/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfectl — command-line client of bfed, built on libbfe only. This file: main, the command
 * table and its dispatch, option helpers, errors and exit codes, and status. The object verbs
 * are in ctl-object.c and the files per kind, explain and monitor in their own files, and all
 * output in ctl-print.c.
 *
 * Exit codes: 0 success, 1 the engine refused (WFP or D-Bus error), 2 usage error, 3 bfed
 * cannot be reached. Errors go to stderr as "bfectl: <message>", where the message is the
 * daemon's, prefixed with the WFP name and code if it does not already begin with them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bfectl.h"
#include "bfed-build.h"

bool arg_json;
const char *arg_address;

/* ---- errors and the connection --------------------------------------------------------------- */

int usage_error(const Verb *v, const char *fmt, ...) {
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
bool is_connection_error(int r) {
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

int engine_error(BfeEngine *e, int r) {
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

int oom(void) {
        fputs("bfectl: out of memory\n", stderr);
        return EXIT_ENGINE;
}

int verb_connect(int parsed, BfeEngine **ret) {
        return parsed != EXIT_OK ? parsed : engine_connect(ret);
}

/* ---- options --------------------------------------------------------------------------------- */

/* Every long option of the commands, by getopt code. */
static const struct option all_options[_OPT_MAX - OPT_HELP] = {
        [OPT_HELP - OPT_HELP] = { "help", no_argument, NULL, OPT_HELP },
        [OPT_JSON - OPT_HELP] = { "json", no_argument, NULL, OPT_JSON },
        [OPT_NAME - OPT_HELP] = { "name", required_argument, NULL, OPT_NAME },
        [OPT_KEY - OPT_HELP] = { "key", required_argument, NULL, OPT_KEY },
        [OPT_DESCRIPTION - OPT_HELP] = { "description", required_argument, NULL, OPT_DESCRIPTION },
        [OPT_FLAGS - OPT_HELP] = { "flags", required_argument, NULL, OPT_FLAGS },
        [OPT_PERSISTENT - OPT_HELP] = { "persistent", no_argument, NULL, OPT_PERSISTENT },
        [OPT_DATA - OPT_HELP] = { "data", required_argument, NULL, OPT_DATA },
        [OPT_PROVIDER - OPT_HELP] = { "provider", required_argument, NULL, OPT_PROVIDER },
        [OPT_WEIGHT - OPT_HELP] = { "weight", required_argument, NULL, OPT_WEIGHT },
        [OPT_TYPE - OPT_HELP] = { "type", required_argument, NULL, OPT_TYPE },
        [OPT_LAYER - OPT_HELP] = { "layer", required_argument, NULL, OPT_LAYER },
        [OPT_ACTION - OPT_HELP] = { "action", required_argument, NULL, OPT_ACTION },
        [OPT_CALLOUT - OPT_HELP] = { "callout", required_argument, NULL, OPT_CALLOUT },
        [OPT_CONTEXT - OPT_HELP] = { "context", required_argument, NULL, OPT_CONTEXT },
        [OPT_SUBLAYER - OPT_HELP] = { "sublayer", required_argument, NULL, OPT_SUBLAYER },
        [OPT_HARD - OPT_HELP] = { "hard", no_argument, NULL, OPT_HARD },
        [OPT_CONDITION - OPT_HELP] = { "condition", required_argument, NULL, OPT_CONDITION },
        [OPT_DROPS - OPT_HELP] = { "drops", no_argument, NULL, OPT_DROPS },
        [OPT_FILTER - OPT_HELP] = { "filter", required_argument, NULL, OPT_FILTER },
        [OPT_IP_VERSION - OPT_HELP] = { "ip-version", required_argument, NULL, OPT_IP_VERSION },
};

void options_for(uint32_t mask, struct option ret[static _OPT_MAX - OPT_HELP + 1]) {
        size_t n = 0;

        for (int c = OPT_HELP; c < _OPT_MAX; c++)
                if (mask & OPT_BIT(c))
                        ret[n++] = all_options[c - OPT_HELP];
        ret[n] = (struct option) {};
}

const char *option_name(int code) {
        return all_options[code - OPT_HELP].name;
}

int verb_help(const Verb *v) {
        printf("Usage: bfectl [--json] [--address BUSADDR] %s%s%s%s%s\n", v->object ?: "", v->object ? " " : "",
               v->verb, v->usage[0] ? " " : "", v->usage);
        return EXIT_OK;
}

int parse_options(const Verb *v, int argc, char **argv, uint32_t mask, int (*option)(const Verb *v, int c,
                  const char *arg, void *userdata), void *userdata, size_t n_args) {
        struct option options[_OPT_MAX - OPT_HELP + 1];
        int c, r;

        options_for(OPTS_BASIC | mask, options);
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case OPT_JSON:
                        arg_json = true;
                        break;
                case 'h':
                case OPT_HELP:
                        verb_help(v);
                        return EXIT_HELP;
                default:
                        if (c == '?' || !option)
                                return usage_error(v, "invalid option");
                        r = option(v, c, optarg, userdata);
                        if (r != EXIT_OK)
                                return r;
                }
        if (n_args == 0 && optind != argc)
                return usage_error(v, "unexpected argument '%s'", argv[optind]);
        if (n_args == 1 && optind + 1 != argc)
                return usage_error(v, "expected exactly one argument: %s", v->usage);
        return EXIT_OK;
}

int parse_basic(const Verb *v, int argc, char **argv, size_t n_args) {
        return parse_options(v, argc, argv, 0, NULL, NULL, n_args);
}

/* Parses a key option into @ret; reports a usage error for anything but a GUID. */
int opt_key(const Verb *v, const char *opt, const char *s, BfeKey *ret) {
        if (bfe_key_from_string(s, ret) < 0)
                return usage_error(v, "--%s: '%s' is not a GUID", opt, s);
        return EXIT_OK;
}

int opt_u32(const Verb *v, const char *opt, const char *s, uint32_t *ret) {
        uint64_t u;

        if (text_parse_u64(s, 0, UINT32_MAX, &u) < 0)
                return usage_error(v, "--%s: '%s' is not a number", opt, s);
        *ret = (uint32_t) u;
        return EXIT_OK;
}

/* ---- status ---------------------------------------------------------------------------------- */

/* Another table's drops of exempted IKE datagrams, per chain (ExemptedDrops): a JSON array of
 * {"table","chain","count"} (null when the daemon does not say), or a line each. */
static void json_exempted_drop(Json *o, size_t i, const void *data) {
        const BfeExemptedDrops *d = (const BfeExemptedDrops *) data + i;

        json_str(o, "table", d->table);
        json_str(o, "chain", d->chain);
        json_u64(o, "count", d->count);
}

static void print_exempted_drops(const BfeExemptedDrops *d, size_t n, bool known, bool json) {
        if (json) {
                if (known)
                        json_objects(stdout, n, json_exempted_drop, d);
                else
                        fputs("null", stdout);
                return;
        }
        if (!known || n == 0) {
                show_line(stdout, "Exempted drops:", "%s", known ? "none seen" : "unknown");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const char *label = i == 0 ? "Exempted drops:" : "";

                if (d[i].table[0])
                        show_line(stdout, label, "%" PRIu64 " by table %s, chain %s", d[i].count, d[i].table,
                                  d[i].chain);
                else
                        show_line(stdout, label, "%" PRIu64 " by further chains", d[i].count);
        }
}

static int verb_status(const Verb *v, int argc, char **argv) {
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        _cleanup_(freep) char *version = NULL, *table = NULL;
        BfeObstacle *obstacles = NULL;
        BfeExemptedDrops *drops = NULL;
        size_t n_obstacles = 0, n_drops = 0;
        bool exemptions, have_obstacles, have_drops;
        uint32_t count = 0;
        bool have_count;
        int r;

        r = verb_connect(parse_basic(v, argc, argv, 0), &e);
        if (r != EXIT_OK)
                return verb_exit(r);

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
        r = bfe_engine_get_exemption_obstacles(e, &obstacles, &n_obstacles);
        if (r < 0 && is_connection_error(r))
                return engine_error(e, r);
        have_obstacles = r >= 0;
        r = bfe_engine_get_exempted_drops(e, &drops, &n_drops);
        if (r < 0 && is_connection_error(r))
                return engine_error(e, r);
        have_drops = r >= 0;

        if (arg_json) {
                Json j;

                json_begin(&j, stdout);
                json_str(&j, "table", table);
                json_name(&j, "filter_count");
                if (have_count)
                        printf("%" PRIu32, count);
                else
                        fputs("null", stdout);
                json_bool(&j, "exemptions_active", exemptions);
                if (have_obstacles)
                        json_obstacles(&j, "exemption_obstacles", obstacles, n_obstacles, false);
                else
                        json_str(&j, "exemption_obstacles", NULL);
                json_str(&j, "version", version);
                json_name(&j, "exempted_drops");
                print_exempted_drops(drops, n_drops, have_drops, true);
                json_end(&j);
                putchar('\n');
                bfe_obstacle_array_free(obstacles, n_obstacles);
                bfe_exempted_drops_free(drops, n_drops);
                return EXIT_OK;
        }

        show_line(stdout, "Table:", "%s", table ?: "unknown");
        if (have_count)
                show_line(stdout, "Filters:", "%" PRIu32, count);
        else
                show_line(stdout, "Filters:", "unknown");
        show_line(stdout, "Exemptions active:", "%s", exemptions ? "yes" : "no");
        /* what may drop the exempted traffic outside bfed's table */
        if (have_obstacles)
                print_obstacles(stdout, "Obstacles:", obstacles, n_obstacles);
        else
                show_line(stdout, "Obstacles:", "unknown");
        show_line(stdout, "Version:", "%s", version ?: "");
        bfe_obstacle_array_free(obstacles, n_obstacles);
        print_exempted_drops(drops, n_drops, have_drops, false);
        bfe_exempted_drops_free(drops, n_drops);
        return EXIT_OK;
}

/* ---- main ------------------------------------------------------------------------------------ */

static const Verb verbs[] = {
        { NULL, "status", verb_status, "", NULL },
        { NULL, "monitor", verb_monitor,
          "[--json] [--drops [--filter ID] [--layer LAYER] [--ip-version 4|6]]\n"
          "  Print the engine's changes as they happen, one line each, until interrupted:\n"
          "  'added filter 17 KEY', 'deleted provider KEY'; with --json one object a line,\n"
          "  {\"change\":\"add\",\"kind\":\"filter\",\"id\":17,\"key\":\"...\"}.\n"
          "  --drops: the packets bfed's filters drop instead (net events; root, or polkit's\n"
          "  org.bfed.engine1.manage), of one filter, layer or IP version if given, at most 100\n"
          "  a second:\n"
          "  'dropped udp 192.0.2.2:5555 -> 192.0.2.1:7001 in by filter 17 at INBOUND_TRANSPORT_V4'.", NULL },
        { NULL, "explain", verb_explain,
          "LAYER [FIELD=VALUE ...]\n"
          "  The engine's decision for a packet at LAYER, without sending one: what each sublayer\n"
          "  did (highest weight first) and the final verdict; for an IKE datagram bfed permits,\n"
          "  the other nftables tables' chains that drop it nevertheless.\n"
          "  LAYER: INBOUND_TRANSPORT_V4, OUTBOUND_TRANSPORT_V6, ALE_AUTH_RECV_ACCEPT_V4,\n"
          "         ALE_AUTH_CONNECT_V6, IPFORWARD_V4, ALE_FLOW_ESTABLISHED_V6, ...\n"
          "  FIELD: IP_PROTOCOL (udp, 17), IP_LOCAL_PORT, IP_REMOTE_PORT, IP_LOCAL_ADDRESS,\n"
          "         IP_REMOTE_ADDRESS, IP_LOCAL_INTERFACE, FLAGS (loopback,ipsec-secured; may be\n"
          "         empty), ALE_USER_ID (uid or name), IP_SOURCE_ADDRESS, IP_DESTINATION_ADDRESS,\n"
          "         IP_FORWARD_INTERFACE (forward), DIRECTION (inbound/outbound), BFED_LOCAL_SYSTEM,\n"
          "         BFED_LOCALLY_INITIATED (true/false). Fields left out are unknown to the engine.", NULL },
};

/* The object verbs: each kind has them all (ctl_kinds). */
static const struct {
        const char *verb;
        int (*run)(const Verb *v, int argc, char **argv);
        size_t usage;           /* in CtlKind */
} object_verbs[] = {
        { "add", verb_add, offsetof(CtlKind, add_usage) },
        { "delete", verb_delete_or_show, offsetof(CtlKind, key_usage) },
        { "list", verb_list, offsetof(CtlKind, list_usage) },
        { "show", verb_delete_or_show, offsetof(CtlKind, key_usage) },
};

static Verb object_verb(const CtlKind *k, size_t i) {
        return (Verb) {
                .object = k->name,
                .verb = object_verbs[i].verb,
                .run = object_verbs[i].run,
                .usage = *(const char *const *) ((const uint8_t *) k + object_verbs[i].usage),
                .kind = k,
        };
}

/* "  filter add --name N --layer L [--key GUID] [--description D] ...": a usage's first line. */
static void help_line(const Verb *v) {
        const char *nl = strchr(v->usage, '\n');
        int len = nl ? (int) (nl - v->usage) : (int) strlen(v->usage);

        if (v->object)
                printf("  %s %s %.*s%s\n", v->object, v->verb, len, v->usage, nl ? " ..." : "");
        else if (v->usage[0])
                printf("  %s %.*s%s\n", v->verb, len, v->usage, nl ? " ..." : "");
        else
                printf("  %s\n", v->verb);
}

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
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                help_line(&verbs[i]);
        for (size_t k = 0; k < ELEMENTSOF(ctl_kinds); k++)
                for (size_t i = 0; i < ELEMENTSOF(object_verbs); i++) {
                        Verb v = object_verb(&ctl_kinds[k], i);

                        help_line(&v);
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
        const CtlKind *kind;
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
                if (streq(verbs[i].verb, object))
                        return verbs[i].run(&verbs[i], argc - optind, argv + optind);

        if (optind + 1 >= argc)
                return usage_error(NULL, "missing verb after '%s'", object);
        verb = argv[optind + 1];

        kind = ctl_kind_by_name(object);
        for (size_t i = 0; kind && i < ELEMENTSOF(object_verbs); i++)
                if (streq(object_verbs[i].verb, verb)) {
                        Verb v = object_verb(kind, i);

                        return v.run(&v, argc - optind - 1, argv + optind + 1);
                }
        return usage_error(NULL, "unknown command '%s %s'", object, verb);
}
