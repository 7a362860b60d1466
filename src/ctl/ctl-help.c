/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-help.c — bfectl's commands: their table, the dispatch of a command line to one, and the
 * help: `bfectl --help` and `bfectl help` (every command), `bfectl help OBJECT` and `bfectl
 * OBJECT --help` (an object's verbs in full), `bfectl help COMMAND [VERB]` (what `COMMAND [VERB]
 * --help` prints). A command, object or verb bfectl does not know is a usage error that names
 * the one probably meant ("did you mean 'filter'?").
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "bfectl-util.h"
#include "bfectl.h"

static int verb_help_command(const Verb *v, int argc, char **argv);

/* The commands that are not an object's verbs, in help order. */
static const Verb verbs[] = {
        { NULL, "status", verb_status, "", NULL },
        { NULL, "monitor", verb_monitor,
          "[--drops [--filter ID] [--layer LAYER] [--ip-version 4|6]]\n"
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
        { NULL, "help", verb_help_command,
          "[COMMAND [VERB]]\n"
          "  Without a command, the commands; with an object (filter, provider, sublayer,\n"
          "  context), its verbs and their options; with any other command, or an object and a\n"
          "  verb, what 'bfectl COMMAND [VERB] --help' prints.", NULL },
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

static const Verb *command_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].verb, name))
                        return &verbs[i];
        return NULL;
}

static ssize_t object_verb_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(object_verbs); i++)
                if (streq(object_verbs[i].verb, name))
                        return (ssize_t) i;
        return -1;
}

/* ---- did you mean --------------------------------------------------------------------------- */

/* A usage error for @word, an unknown @what ("command", "verb"), with the @candidates' nearest. */
static int unknown_word(const Verb *v, const char *what, const char *word, const char *const *candidates, size_t n) {
        const char *s = suggest(word, candidates, n);

        if (s)
                return usage_error(v, "unknown %s '%s', did you mean '%s'?", what, word, s);
        return usage_error(v, "unknown %s '%s'", what, word);
}

static int unknown_command(const char *word) {
        const char *names[ELEMENTSOF(verbs) + ELEMENTSOF(ctl_kinds)];
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                names[n++] = verbs[i].verb;
        for (size_t k = 0; k < ELEMENTSOF(ctl_kinds); k++)
                names[n++] = ctl_kinds[k].name;
        return unknown_word(NULL, "command", word, names, n);
}

static int unknown_verb(const CtlKind *k, const char *word) {
        const char *names[ELEMENTSOF(object_verbs)];
        Verb v = { .object = NULL, .verb = k->name };   /* "Try 'bfectl filter --help'." */

        for (size_t i = 0; i < ELEMENTSOF(object_verbs); i++)
                names[i] = object_verbs[i].verb;
        return unknown_word(&v, "verb", word, names, ELEMENTSOF(object_verbs));
}

/* ---- help ----------------------------------------------------------------------------------- */

/* "  filter add --name N --layer L [--key GUID] [--description D] ...": a usage's first line. */
static void help_line(const Verb *v) {
        const char *nl = strchr(v->usage, '\n');
        int len = nl ? (int) (nl - v->usage) : (int) strlen(v->usage);

        printf("  %s%s%s%s%.*s%s\n", v->object ?: "", v->object ? " " : "", v->verb, len > 0 ? " " : "", len,
               v->usage, nl ? " ..." : "");
}

void help(void) {
        printf("Usage: bfectl [--json] [--no-legend] [--address BUSADDR] COMMAND ...\n"
               "\n"
               "Manage the bfed filtering engine.\n"
               "\n"
               "Options:\n"
               "  -h --help             show this help\n"
               "     --version          show the version\n"
               "  -j --json             print JSON\n"
               "     --no-legend        print tables without their header and footer lines\n"
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
        printf("\n'bfectl help OBJECT' shows an object's verbs with all their options,\n"
               "'bfectl COMMAND [VERB] --help' one command's.\n"
               "Exit status: 0 ok, 1 failure (the engine refused), 2 usage error, 3 no such object,\n"
               "4 access denied, 7 bfed cannot be reached.\n");
}

/* bfectl help OBJECT, bfectl OBJECT --help: every verb of @k, with all its options. */
static void help_object(const CtlKind *k) {
        printf("Usage: bfectl [--json] [--no-legend] [--address BUSADDR] %s VERB ...\n"
               "\n"
               "Verbs:\n", k->name);
        for (size_t i = 0; i < ELEMENTSOF(object_verbs); i++) {
                Verb v = object_verb(k, i);
                const char *line = v.usage, *nl;

                /* the usage's further lines under the verb's */
                printf("  %s %s", k->name, v.verb);
                for (bool first = true; line; first = false, line = nl ? nl + 1 : NULL) {
                        nl = strchr(line, '\n');
                        printf("%s%.*s\n", first ? (line[0] ? " " : "") : "  ",
                               nl ? (int) (nl - line) : (int) strlen(line), line);
                }
        }
        printf("\n'bfectl %s VERB --help' shows one verb's.\n", k->name);
}

static int verb_help_command(const Verb *v, int argc, char **argv) {
        const CtlKind *k;
        const Verb *c;
        Verb ov;
        ssize_t i;
        int r;

        r = parse_basic(v, argc, argv, SIZE_MAX);
        if (r != EXIT_OK)
                return verb_exit(r);
        if (argc - optind > 2)
                return usage_error(v, "expected at most a command and a verb");
        if (optind == argc) {
                help();
                return EXIT_OK;
        }
        k = ctl_kind_by_name(argv[optind]);
        c = command_by_name(argv[optind]);
        if (!k && !c)
                return unknown_command(argv[optind]);
        if (c) {
                if (optind + 1 < argc)
                        return usage_error(v, "'%s' has no verbs", c->verb);
                return verb_help(c);
        }
        if (optind + 1 == argc) {
                help_object(k);
                return EXIT_OK;
        }
        i = object_verb_by_name(argv[optind + 1]);
        if (i < 0)
                return unknown_verb(k, argv[optind + 1]);
        ov = object_verb(k, (size_t) i);
        return verb_help(&ov);
}

/* ---- dispatch ------------------------------------------------------------------------------- */

int run_command(int argc, char **argv) {
        const char *object = argv[0], *verb;
        const Verb *c;
        const CtlKind *k;
        Verb v;
        ssize_t i;

        c = command_by_name(object);
        if (c)
                return c->run(c, argc, argv);

        k = ctl_kind_by_name(object);
        if (!k)
                return unknown_command(object);
        v = (Verb) { .verb = k->name };         /* for the errors: "Try 'bfectl filter --help'." */
        if (argc < 2)
                return usage_error(&v, "missing verb after '%s': add, delete, list or show", object);
        verb = argv[1];
        if (streq(verb, "--help") || streq(verb, "-h")) {
                help_object(k);
                return EXIT_OK;
        }
        if (verb[0] == '-')
                return usage_error(&v, "a verb goes before its options: 'bfectl %s VERB %s'", object, verb);
        i = object_verb_by_name(verb);
        if (i < 0)
                return unknown_verb(k, verb);

        v = object_verb(k, (size_t) i);
        return v.run(&v, argc - 1, argv + 1);
}
