/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bfectl.h — what bfectl's source files share: exit codes, options, verbs and object kinds. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bfe/bfe.h"
#include "ctl-print.h"
#include "macro.h"
#include "object.h"

/* The exit statuses, as bfectl(8) documents them; 1, 2 and 4 mean what they mean to LSB's and
 * systemd's tools, 7 is LSB's "program is not running". */
enum {
        EXIT_OK = 0,
        EXIT_ENGINE = 1,        /* a failure: the engine refused (a WFP or D-Bus error), out of memory */
        EXIT_USAGE = 2,         /* bad arguments: an unknown command, verb or option, a bad value */
        EXIT_NOT_FOUND = 3,     /* an object the command names does not exist (FWP_E_*_NOT_FOUND) */
        EXIT_DENIED = 4,        /* access denied: not root, and polkit did not say yes */
        EXIT_CONNECT = 7,       /* bfed cannot be reached: not running, no bus, or the bus went away */
};

/* What the option parsers return for --help: the verb is done, and nothing failed. */
#define EXIT_HELP (-1)

extern bool arg_json;
extern bool arg_legend;         /* tables with their header and footer lines: no --no-legend */
extern const char *arg_address;

/* The long options of the commands, by getopt code; a verb takes a set of them (OPT_BIT()s). */
enum {
        OPT_HELP = 0x100,
        OPT_JSON,
        OPT_NO_LEGEND,
        OPT_NAME,
        OPT_KEY,
        OPT_DESCRIPTION,
        OPT_FLAGS,
        OPT_PERSISTENT,
        OPT_DATA,
        OPT_PROVIDER,
        OPT_WEIGHT,
        OPT_TYPE,
        OPT_LAYER,
        OPT_ACTION,
        OPT_CALLOUT,
        OPT_CONTEXT,
        OPT_SUBLAYER,
        OPT_HARD,
        OPT_CONDITION,
        OPT_DROPS,
        OPT_FILTER,
        OPT_IP_VERSION,
        OPT_RAW_CONTEXT,
        OPT_POLICY_FLAGS,
        OPT_BOOTTIME,
        _OPT_MAX,
};

#define OPT_BIT(code) (UINT32_C(1) << ((code) - OPT_HELP))
#define OPTS_BASIC (OPT_BIT(OPT_HELP) | OPT_BIT(OPT_JSON) | OPT_BIT(OPT_NO_LEGEND))

typedef struct CtlKind CtlKind;

typedef struct Verb {
        const char *object;     /* the kind's name for the object verbs; NULL for the others */
        const char *verb;
        int (*run)(const struct Verb *v, int argc, char **argv);
        const char *usage;
        const CtlKind *kind;    /* the object verbs' kind */
} Verb;

/* ---- bfectl.c: errors, the connection, options --------------------------------------------- */

int usage_error(const Verb *v, const char *fmt, ...) _printf_(2, 3);
/* The exit status of a failed libbfe call: EXIT_CONNECT, EXIT_NOT_FOUND, EXIT_DENIED or EXIT_ENGINE. */
int exit_status_of_error(int r, uint32_t wfp_code, const char *bus_name);
/* Reports the engine's last error; returns its exit status (exit_status_of_error()). */
int engine_error(BfeEngine *e, int r);
bool is_connection_error(int r);
int oom(void);
/* Once a verb's arguments parsed (@parsed is EXIT_OK), connects; else returns @parsed. */
int verb_connect(int parsed, BfeEngine **ret);
/* What a verb exits with for @r: --help (EXIT_HELP) is a success. */
static inline int verb_exit(int r) {
        return r == EXIT_HELP ? EXIT_OK : r;
}

int verb_help(const Verb *v);
/* The usage error of getopt's '?' (its own messages are off): an unknown option, with the one of
 * @options it is nearest to ("did you mean '--layer'?"), or an argument missing or extra.
 * @shorts: the short options. */
int option_error(const Verb *v, char *const *argv, const struct option *options, const char *shorts);
/* The getopt_long() options of the OPT_BIT()s in @mask. */
void options_for(uint32_t mask, struct option ret[static _OPT_MAX - OPT_HELP + 1]);
const char *option_name(int code);
/* Runs getopt over --help and --json only, and checks the arguments left: none (@n_args 0),
 * exactly one (1), or any number (SIZE_MAX). Return: EXIT_OK, EXIT_HELP or a usage error. */
int parse_basic(const Verb *v, int argc, char **argv, size_t n_args);
/* The same, with the options of @mask too, each given to @option (it returns EXIT_OK or a usage
 * error). */
int parse_options(const Verb *v, int argc, char **argv, uint32_t mask, int (*option)(const Verb *v, int c,
                  const char *arg, void *userdata), void *userdata, size_t n_args);
int opt_key(const Verb *v, const char *opt, const char *s, BfeKey *ret);
int opt_u32(const Verb *v, const char *opt, const char *s, uint32_t *ret);

DEFINE_TRIVIAL_CLEANUP_FUNC(BfeEngine *, bfe_engine_close);

/* ---- ctl-object.c: add, delete, show, list of every kind ------------------------------------ */

/* The object an add verb builds. Every string and array in it is owned (object_done()). */
typedef struct AddArgs {
        void *object;           /* the kind's public struct */
        size_t n_alloc;         /* room for conditions */
        uint32_t seen;          /* the OPT_BIT()s given */
} AddArgs;

/*
 * What bfectl knows about a kind beyond its object table: what add takes (the common
 * options, which the add verb handles, and its own, which @add_option writes into the
 * object), what add needs, and what list takes.
 */
struct CtlKind {
        ObjectKind kind;
        const char *name;               /* bfectl's word: "context" */
        uint32_t add_options;           /* OPT_BIT()s beyond the common ones */
        uint32_t add_required;          /* OPT_BIT()s add cannot do without */
        uint32_t list_options;          /* OPT_BIT()s list takes beyond --help, --json */
        int (*add_option)(const Verb *v, int c, const char *arg, AddArgs *a);
        /* sets what depends on several options, once all are read; may be NULL */
        void (*add_finish)(AddArgs *a);
        const char *add_usage, *list_usage, *key_usage;
};

/* The kinds, in help order. */
extern const CtlKind ctl_kinds[_OBJECT_KIND_MAX];
const CtlKind *ctl_kind_by_name(const char *name);

int verb_add(const Verb *v, int argc, char **argv);
int verb_delete_or_show(const Verb *v, int argc, char **argv);
int verb_list(const Verb *v, int argc, char **argv);

/* ---- the kinds' own options: ctl-sublayer.c, ctl-context.c, ctl-filter.c ---------------------- */

int sublayer_add_option(const Verb *v, int c, const char *arg, AddArgs *a);
int context_add_option(const Verb *v, int c, const char *arg, AddArgs *a);
int filter_add_option(const Verb *v, int c, const char *arg, AddArgs *a);
void filter_add_finish(AddArgs *a);
/* Sets the string field @bus of @a's object to a copy of @s. */
int add_string(const Verb *v, AddArgs *a, const char *bus, const char *s);

/* ---- ctl-explain.c, ctl-monitor.c, status (bfectl.c) ----------------------------------------- */

int verb_explain(const Verb *v, int argc, char **argv);
int verb_monitor(const Verb *v, int argc, char **argv);
int verb_status(const Verb *v, int argc, char **argv);

/* ---- ctl-help.c: the commands and the help ---------------------------------------------------- */

/* bfectl --help, bfectl help. */
void help(void);
/* Runs the command of @argv (its first word, an object's verb its second). */
int run_command(int argc, char **argv);
