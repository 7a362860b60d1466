/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-object.c — bfectl's object verbs, add, delete, show and list, for every kind: the table
 * of the kinds, the options all kinds share, and the one place that maps a kind to its libbfe
 * calls. The kinds' own add options are in ctl-sublayer.c, ctl-context.c and ctl-filter.c
 * (a provider has none); how objects are printed is in ctl-print.c.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bfectl-util.h"
#include "bfectl.h"

/* ---- the libbfe calls of each kind ----------------------------------------------------------- */

static int kind_add(ObjectKind kind, BfeEngine *e, const void *obj, BfeKey *ret_key, uint64_t *ret_id) {
        switch (kind) {
        case OBJECT_PROVIDER:
                return bfe_provider_add(e, obj, ret_key);
        case OBJECT_SUBLAYER:
                return bfe_sublayer_add(e, obj, ret_key);
        case OBJECT_PROVIDER_CONTEXT:
                return bfe_provider_context_add(e, obj, ret_key, ret_id);
        case OBJECT_FILTER:
                return bfe_filter_add(e, obj, ret_key, ret_id);
        case _OBJECT_KIND_MAX:
                break;
        }
        return -EINVAL;
}

/* Get (@ret non-NULL) or delete one object: by @key, or for filters by @id if @key is NULL. */
static int kind_get_or_delete(ObjectKind kind, BfeEngine *e, const BfeKey *key, uint64_t id, void **ret) {
        switch (kind) {
        case OBJECT_PROVIDER:
                return ret ? bfe_provider_get(e, key, (BfeProvider **) ret) : bfe_provider_delete(e, key);
        case OBJECT_SUBLAYER:
                return ret ? bfe_sublayer_get(e, key, (BfeSublayer **) ret) : bfe_sublayer_delete(e, key);
        case OBJECT_PROVIDER_CONTEXT:
                return ret ? bfe_provider_context_get(e, key, (BfeProviderContext **) ret) :
                             bfe_provider_context_delete(e, key);
        case OBJECT_FILTER:
                if (ret)
                        return key ? bfe_filter_get_by_key(e, key, (BfeFilter **) ret) :
                                     bfe_filter_get_by_id(e, id, (BfeFilter **) ret);
                return key ? bfe_filter_delete_by_key(e, key) : bfe_filter_delete_by_id(e, id);
        case _OBJECT_KIND_MAX:
                break;
        }
        return -EINVAL;
}

/* The list options, as read by list_parse(). */
typedef struct ListArgs {
        BfeFilterTemplate filter;
        BfeProviderContextTemplate context;
} ListArgs;

static int kind_enum(ObjectKind kind, BfeEngine *e, const ListArgs *l, void **ret_array, size_t *ret_n) {
        switch (kind) {
        case OBJECT_PROVIDER:
                return bfe_provider_enum(e, (BfeProvider **) ret_array, ret_n);
        case OBJECT_SUBLAYER:
                return bfe_sublayer_enum(e, (BfeSublayer **) ret_array, ret_n);
        case OBJECT_PROVIDER_CONTEXT:
                return bfe_provider_context_enum(e, &l->context, (BfeProviderContext **) ret_array, ret_n);
        case OBJECT_FILTER:
                return bfe_filter_enum(e, &l->filter, (BfeFilter **) ret_array, ret_n);
        case _OBJECT_KIND_MAX:
                break;
        }
        return -EINVAL;
}

/* Frees @n objects that libbfe returned, and their array. Return: NULL. */
static void *kind_free(ObjectKind kind, void *array, size_t n) {
        switch (kind) {
        case OBJECT_PROVIDER:
                return bfe_provider_array_free(array, n);
        case OBJECT_SUBLAYER:
                return bfe_sublayer_array_free(array, n);
        case OBJECT_PROVIDER_CONTEXT:
                return bfe_provider_context_array_free(array, n);
        case OBJECT_FILTER:
                return bfe_filter_array_free(array, n);
        case _OBJECT_KIND_MAX:
                break;
        }
        return NULL;
}

/* ---- the kinds ---------------------------------------------------------------------------------- */

#define OPTS_COMMON (OPTS_BASIC | OPT_BIT(OPT_NAME) | OPT_BIT(OPT_KEY) | OPT_BIT(OPT_DESCRIPTION) | \
                     OPT_BIT(OPT_FLAGS) | OPT_BIT(OPT_PERSISTENT) | OPT_BIT(OPT_DATA))
#define OPTS_FILTER_ADD (OPT_BIT(OPT_PROVIDER) | OPT_BIT(OPT_LAYER) | OPT_BIT(OPT_ACTION) | OPT_BIT(OPT_CALLOUT) | \
                         OPT_BIT(OPT_WEIGHT) | OPT_BIT(OPT_CONTEXT) | OPT_BIT(OPT_SUBLAYER) | OPT_BIT(OPT_HARD) | \
                         OPT_BIT(OPT_CONDITION) | OPT_BIT(OPT_RAW_CONTEXT) | OPT_BIT(OPT_BOOTTIME))

/* In CtlKind's order: kind, name, add's options and those it requires, list's options, the
 * add hooks, and the usage of add, list and delete/show. */
const CtlKind ctl_kinds[_OBJECT_KIND_MAX] = {
        [OBJECT_PROVIDER] = {
                OBJECT_PROVIDER, "provider", 0, OPT_BIT(OPT_NAME), 0, NULL, NULL,
                "--name N [--key GUID] [--description D] [--flags N] [--persistent] [--data HEX]", "", "KEY" },
        [OBJECT_SUBLAYER] = {
                OBJECT_SUBLAYER, "sublayer", OPT_BIT(OPT_PROVIDER) | OPT_BIT(OPT_WEIGHT),
                OPT_BIT(OPT_NAME) | OPT_BIT(OPT_WEIGHT), 0, sublayer_add_option, NULL,
                "--name N --weight W [--key GUID] [--provider KEY] [--description D] [--flags N]\n"
                "        [--persistent] [--data HEX]", "", "KEY" },
        [OBJECT_PROVIDER_CONTEXT] = {
                OBJECT_PROVIDER_CONTEXT, "context", OPT_BIT(OPT_PROVIDER) | OPT_BIT(OPT_TYPE) | OPT_BIT(OPT_POLICY_FLAGS),
                OPT_BIT(OPT_NAME) | OPT_BIT(OPT_TYPE), OPT_BIT(OPT_PROVIDER) | OPT_BIT(OPT_TYPE), context_add_option,
                NULL,
                "--name N --type T [--key GUID] [--provider KEY] [--data HEX] [--description D]\n"
                "        [--flags N] [--persistent] [--policy-flags N]\n"
                "  T: a number or keying, ike-qm-transport, ike-qm-tunnel, authip-qm-transport,\n"
                "     authip-qm-tunnel, ike-mm, authip-mm, classify-options, general, ikev2-qm-tunnel,\n"
                "     ikev2-mm, dosp, ikev2-qm-transport, network-connection-policy, or the WFP name\n"
                "     (IPSEC_IKE_MM)\n"
                "  Prints the new context's key and id.",
                "[--type T] [--provider KEY]", "KEY" },
        [OBJECT_FILTER] = {
                OBJECT_FILTER, "filter", OPTS_FILTER_ADD, OPT_BIT(OPT_NAME) | OPT_BIT(OPT_LAYER),
                OPT_BIT(OPT_LAYER) | OPT_BIT(OPT_PROVIDER) | OPT_BIT(OPT_SUBLAYER), filter_add_option,
                filter_add_finish,
                "--name N --layer L [--key GUID] [--description D]\n"
                "        [--action permit|block|callout|NUMBER] [--callout KEY] [--weight auto|R|=N]\n"
                "        [--context KEY] [--provider KEY] [--sublayer KEY] [--flags N] [--persistent]\n"
                "        [--hard] [--raw-context N] [--boottime] [--condition COND]...\n"
                "  L: IKEEXT_V4, INBOUND_TRANSPORT_V6, ALE_AUTH_CONNECT_V4, ... or a layer GUID\n"
                "  --weight: auto (default), R = range 0-15, =N or explicit:N = explicit 64-bit weight\n"
                "  --hard: set FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT (a hard permit)\n"
                "  --raw-context: WFP's rawContext, instead of a context (IPsec callouts: 1 PASSTHRU in,\n"
                "                 NEGOTIATE_DISCOVER out)\n"
                "  --boottime: set FWPM_FILTER_FLAG_BOOTTIME (enforced from boot until bfed runs)\n"
                "  COND: FIELD=VALUE (equal), FIELD!=VALUE (not equal), FIELD:MATCH=VALUE (FWP_MATCH_TYPE)\n"
                "        e.g. IP_PROTOCOL=udp IP_LOCAL_PORT=500 IP_REMOTE_PORT:5=500-510\n"
                "             IP_REMOTE_ADDRESS=192.0.2.0/24\n"
                "  The action defaults to permit (callout if --callout is given).\n"
                "  Prints the new filter's key and id.",
                "[--layer L] [--provider KEY] [--sublayer KEY]", "KEY|ID" },
};

const CtlKind *ctl_kind_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(ctl_kinds); i++)
                if (streq(ctl_kinds[i].name, name))
                        return &ctl_kinds[i];
        return NULL;
}

/* ---- add --------------------------------------------------------------------------------------- */

/* The field of @a's object named by its D-Bus key, which the kind has. */
static void *add_field(const Verb *v, AddArgs *a, const char *bus) {
        const Field *f = object_field_by_bus(object_info(v->kind->kind), bus);

        assert(f);
        return field_ptr(f, a->object);
}

int add_string(const Verb *v, AddArgs *a, const char *bus, const char *s) {
        char **p = add_field(v, a, bus), *copy;

        copy = strdup(s);
        if (!copy)
                return oom();
        free(*p);
        *p = copy;
        return EXIT_OK;
}

/* --data: a context's own data, every other kind's provider data. */
static int add_data(const Verb *v, AddArgs *a, const char *hex) {
        const ObjectInfo *o = object_info(v->kind->kind);
        BfeBlob *blob = add_field(v, a, object_field_by_bus(o, "Data") ? "Data" : "ProviderData");

        free(blob->data);
        *blob = (BfeBlob) {};
        if (blob_from_hex(hex, blob) < 0)
                return usage_error(v, "--data: '%s' is not a hex string", hex);
        return EXIT_OK;
}

/* The options every kind's add has, written straight into the object. */
static int add_common_option(const Verb *v, int c, AddArgs *a) {
        uint32_t flags = 0;
        int r;

        switch (c) {
        case OPT_NAME:
                return add_string(v, a, "Name", optarg);
        case OPT_KEY:
                return opt_key(v, "key", optarg, add_field(v, a, "Key"));
        case OPT_DESCRIPTION:
                return add_string(v, a, "Description", optarg);
        case OPT_FLAGS:
                r = opt_u32(v, "flags", optarg, &flags);
                *(uint32_t *) add_field(v, a, "Flags") |= flags;
                return r;
        case OPT_PERSISTENT:
                *(uint32_t *) add_field(v, a, "Flags") |= BFE_FLAG_PERSISTENT;
                return EXIT_OK;
        case OPT_PROVIDER:
                return opt_key(v, "provider", optarg, add_field(v, a, "ProviderKey"));
        case OPT_DATA:
                return add_data(v, a, optarg);
        case OPT_JSON:
                arg_json = true;
                return EXIT_OK;
        case OPT_NO_LEGEND:
                arg_legend = false;
                return EXIT_OK;
        case 'h':
        case OPT_HELP:
                verb_help(v);
                return EXIT_HELP;
        default:
                /* getopt only returns the codes of this kind's options */
                return v->kind->add_option ? v->kind->add_option(v, c, optarg, a) : usage_error(v, "invalid option");
        }
}

static void print_added(const BfeKey *key, bool with_id, uint64_t id) {
        char buf[BFE_KEY_STRING_MAX];

        bfe_key_to_string(key, buf);
        if (arg_json) {
                Json j;

                json_begin(&j, stdout);
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

static int add_parse(const Verb *v, int argc, char **argv, AddArgs *a) {
        const CtlKind *k = v->kind;
        struct option options[_OPT_MAX - OPT_HELP + 1];
        int c, r;

        options_for(OPTS_COMMON | k->add_options, options);
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                if (c == '?')
                        return option_error(v, argv, options, "h");
                r = add_common_option(v, c, a);
                if (r != EXIT_OK)
                        return r;
                if (c >= OPT_HELP)
                        a->seen |= OPT_BIT(c);
        }
        if (optind != argc)
                return usage_error(v, "unexpected argument '%s'", argv[optind]);
        for (int o = OPT_HELP; o < _OPT_MAX; o++)
                if ((k->add_required & OPT_BIT(o)) && !(a->seen & OPT_BIT(o)))
                        return usage_error(v, "--%s is required", option_name(o));
        if (k->add_finish)
                k->add_finish(a);
        return EXIT_OK;
}

int verb_add(const Verb *v, int argc, char **argv) {
        const ObjectInfo *o = object_info(v->kind->kind);
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        AddArgs a = {};
        uint64_t id = 0;
        BfeKey key;
        int r;

        a.object = calloc(1, o->size);
        if (!a.object)
                return oom();
        r = verb_connect(add_parse(v, argc, argv, &a), &e);
        if (r == EXIT_OK) {
                r = kind_add(o->kind, e, a.object, &key, &id);
                if (r < 0)
                        r = engine_error(e, r);
                else
                        print_added(&key, o->kind == OBJECT_PROVIDER_CONTEXT || o->kind == OBJECT_FILTER, id);
        }
        object_done(o, a.object);
        free(a.object);
        return verb_exit(r);
}

/* ---- delete, show ------------------------------------------------------------------------------ */

/* The one argument of delete and show: a key, for filters also an id (then *ret_is_key false). */
static int object_arg_parse(const Verb *v, int argc, char **argv, BfeKey *ret_key, uint64_t *ret_id,
                            bool *ret_is_key) {
        int r;

        r = parse_basic(v, argc, argv, 1);
        if (r != EXIT_OK)
                return r;
        if (v->kind->kind == OBJECT_FILTER) {
                if (parse_key_or_id(argv[optind], ret_key, ret_id, ret_is_key) < 0)
                        return usage_error(v, "'%s' is neither a filter key (GUID) nor a filter id", argv[optind]);
        } else if (bfe_key_from_string(argv[optind], ret_key) < 0)
                return usage_error(v, "'%s' is not a GUID", argv[optind]);
        return EXIT_OK;
}

int verb_delete_or_show(const Verb *v, int argc, char **argv) {
        ObjectKind kind = v->kind->kind;
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        void *obj = NULL;
        bool show = streq(v->verb, "show"), is_key = true;
        uint64_t id = 0;
        BfeKey key;
        int r;

        r = verb_connect(object_arg_parse(v, argc, argv, &key, &id, &is_key), &e);
        if (r != EXIT_OK)
                return verb_exit(r);
        r = kind_get_or_delete(kind, e, is_key ? &key : NULL, id, show ? &obj : NULL);
        if (r < 0)
                return engine_error(e, r);
        if (show) {
                print_object(stdout, kind, obj, arg_json);
                if (arg_json)
                        putchar('\n');
                kind_free(kind, obj, 1);        /* libbfe's free of one object is that of an array of one */
        }
        return EXIT_OK;
}

/* ---- list -------------------------------------------------------------------------------------- */

static int list_option(const Verb *v, int c, ListArgs *l) {
        if (!(v->kind->list_options & OPT_BIT(c)))
                switch (c) {
                case OPT_PROVIDER:
                        return usage_error(v, "--provider is only for context and filter list");
                case OPT_TYPE:
                        return usage_error(v, "--type is only for context list");
                default:
                        return usage_error(v, "--%s is only for filter list", option_name(c));
                }
        switch (c) {
        case OPT_LAYER:
                l->filter.layer = optarg;
                return EXIT_OK;
        case OPT_SUBLAYER:
                return opt_key(v, "sublayer", optarg, &l->filter.sublayer_key);
        case OPT_PROVIDER:
                return opt_key(v, "provider", optarg,
                               v->kind->kind == OBJECT_FILTER ? &l->filter.provider_key : &l->context.provider_key);
        case OPT_TYPE:
                if (parse_context_type(optarg, &l->context.type) < 0)
                        return usage_error(v, "--type: unknown provider context type '%s'", optarg);
                l->context.match_type = true;
                return EXIT_OK;
        }
        return usage_error(v, "invalid option");
}

static int list_parse(const Verb *v, int argc, char **argv, ListArgs *l) {
        struct option options[_OPT_MAX - OPT_HELP + 1];
        int c, r = EXIT_OK;

        /* every kind's list options, so that one another kind has is explained */
        options_for(OPTS_BASIC | ctl_kinds[OBJECT_FILTER].list_options | ctl_kinds[OBJECT_PROVIDER_CONTEXT].list_options,
                    options);
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                if (c == OPT_JSON)
                        arg_json = true;
                else if (c == OPT_NO_LEGEND)
                        arg_legend = false;
                else if (c == 'h' || c == OPT_HELP) {
                        verb_help(v);
                        return EXIT_HELP;
                } else if (c == '?')
                        return option_error(v, argv, options, "h");
                else
                        r = list_option(v, c, l);
                if (r != EXIT_OK)
                        return r;
        }
        if (optind != argc)
                return usage_error(v, "unexpected argument '%s'", argv[optind]);
        return EXIT_OK;
}

int verb_list(const Verb *v, int argc, char **argv) {
        ObjectKind kind = v->kind->kind;
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        ListArgs l = {};
        void *array = NULL;
        size_t n = 0;
        int r;

        r = verb_connect(list_parse(v, argc, argv, &l), &e);
        if (r != EXIT_OK)
                return verb_exit(r);
        r = kind_enum(kind, e, &l, &array, &n);
        if (r < 0)
                return engine_error(e, r);
        if (arg_json)
                print_objects_json(stdout, kind, array, n);
        else
                r = print_list(stdout, kind, array, n, arg_legend);
        kind_free(kind, array, n);
        return r < 0 ? oom() : EXIT_OK;
}
