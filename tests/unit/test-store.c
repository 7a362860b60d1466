/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-store.c — the persistence store: round trip; damaged files and refused records, of which
 * every trustworthy record still loads; a newer version refused; the prepare/commit/discard protocol. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "macro.h"
#include "store.h"

#define CALLOUT_OUTBOUND_V4 "4b46bf0a-4523-4e57-aa38-a87987c910d9"

typedef struct Fixture {
        char tmp[64];                   /* mkdtemp */
        char dir[128];                  /* <tmp>/lib/bfed: the store creates it */
        char path[160];                 /* <dir>/state */
        Store *store;
        Engine *e;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->tmp, "/tmp/test-store-XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        snprintf(f->dir, sizeof(f->dir), "%s/lib/bfed", f->tmp);
        snprintf(f->path, sizeof(f->path), "%s/state", f->dir);
        assert_int_equal(store_new(f->dir, &f->store), 0);
        assert_string_equal(store_path(f->store), f->path);
        assert_int_equal(engine_new(&f->e), 0);
        *state = f;
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int teardown(void **state) {
        Fixture *f = *state;

        store_free(f->store);
        engine_free(f->e);
        /* the state file, damaged copies, state.rejected, FIFOs and links of the tests */
        assert_int_equal(nftw(f->tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(f);
        return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static BfeGuid G(const char *s) {
        BfeGuid g;

        assert_int_equal(guid_from_string(s, &g), 0);
        return g;
}

/* A key to pass by pointer: a rotating buffer, enough for one expression. */
static const BfeGuid *K(const char *s) {
        static BfeGuid ring[8];
        static unsigned i;
        BfeGuid *g = &ring[i++ % ELEMENTSOF(ring)];

        *g = G(s);
        return g;
}

static char *read_all(const char *path, size_t *ret_size) {
        FILE *fp = fopen(path, "re");
        char *data;
        long n;

        assert_non_null(fp);
        assert_int_equal(fseek(fp, 0, SEEK_END), 0);
        n = ftell(fp);
        rewind(fp);
        data = malloc((size_t) n + 1);
        assert_non_null(data);
        assert_int_equal(fread(data, 1, (size_t) n, fp), (size_t) n);
        data[n] = 0;
        fclose(fp);
        if (ret_size)
                *ret_size = (size_t) n;
        return data;
}

static void write_all(const char *path, const char *data, size_t n) {
        FILE *fp = fopen(path, "we");

        assert_non_null(fp);
        assert_int_equal(fwrite(data, 1, n, fp), n);
        assert_int_equal(fclose(fp), 0);
}

static bool exists(const char *path) {
        return access(path, F_OK) == 0;
}

/* The manager's commit path, without the kernel: prepare, (kernel ok), commit both. */
static void save(Fixture *f) {
        assert_true(store_changes_touch_persistent(f->e));
        assert_int_equal(store_prepare(f->store, f->e), 0);
        engine_commit(f->e);
        assert_int_equal(store_commit(f->store), 0);
}

static size_t count_owned(const Engine *e) {
        size_t n = 0;

        for (Filter *x = engine_filters(e); x; x = x->next)
                n += x->engine_owned;
        return n;
}

static size_t count_objects(const Engine *e) {
        size_t n = 0;

        for (Provider *p = engine_providers(e); p; p = p->next)
                n += !p->builtin;
        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                n += !s->builtin;
        for (ProviderContext *c = engine_provider_contexts(e); c; c = c->next)
                n++;
        return n + engine_n_filters(e);
}

static bool engine_is_empty(const Engine *e) {
        return count_objects(e) == 0 && !engine_in_transaction(e); /* the built-in objects only */
}

static const uint8_t BLOB1[] = { 0x00, 0xff, '%', ' ', '\n', 0x7f, 0x80, ',' };
static const uint8_t BLOB2[] = { 0xde, 0xad, 0xbe, 0xef };

#define P1 "11111111-0000-4000-8000-000000000001"
#define P2 "11111111-0000-4000-8000-000000000002"
#define S1 "22222222-0000-4000-8000-000000000001"
#define S2 "22222222-0000-4000-8000-000000000002"
#define S3 "22222222-0000-4000-8000-000000000003"
#define C1 "33333333-0000-4000-8000-000000000001"
#define C2 "33333333-0000-4000-8000-000000000002"
#define C3 "33333333-0000-4000-8000-000000000003"
#define F1 "44444444-0000-4000-8000-000000000001"
#define F2 "44444444-0000-4000-8000-000000000002"
#define F3 "44444444-0000-4000-8000-000000000003"
#define F4 "44444444-0000-4000-8000-000000000004"
#define F5 "44444444-0000-4000-8000-000000000005"
#define F6 "44444444-0000-4000-8000-000000000006"
#define F7 "44444444-0000-4000-8000-000000000007"

static char NAME_AWKWARD[] = "tab\there, newline\nthere, 100% sure; Grüße = \xe2\x9c\x93 ";

/* Every kind of object, persistent and not, in one transaction; then saved. */
static void populate(Fixture *f) {
        Engine *e = f->e;
        static ConditionSpec conds2[] = {
                { .field = "IP_LOCAL_PORT", .match = WFP_MATCH_RANGE, .value = "7000-7010" },
                { .field = "IP_REMOTE_ADDRESS", .match = WFP_MATCH_EQUAL, .value = "10.0.0.0/8" },
                { .field = "FLAGS", .match = WFP_MATCH_FLAGS_ALL_SET, .value = "loopback" },
        };
        static ConditionSpec conds3[] = {
                { .field = "IP_REMOTE_PORT", .match = WFP_MATCH_EQUAL, .value = "500" },
                { .field = "IP_REMOTE_PORT", .match = WFP_MATCH_EQUAL, .value = "4500" },
                { .field = "IP_LOCAL_INTERFACE", .match = WFP_MATCH_NOT_EQUAL, .value = "lo" },
                { .field = "IP_PROTOCOL", .match = WFP_MATCH_EQUAL, .value = "udp" },
        };

        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_provider(e, &(ProviderSpec) {
                .key = G(P1), .name = NAME_AWKWARD, .description = "d\te%s,c", .flags = WFP_FLAG_PERSISTENT,
                .provider_data = { (void *) BLOB1, sizeof(BLOB1) } }, NULL, NULL), 0);
        assert_int_equal(engine_add_provider(e, &(ProviderSpec) { .key = G(P2), .name = "transient" }, NULL, NULL), 0);

        /* S1 and S2: equal weights, so their order is the order of addition */
        assert_int_equal(engine_add_sublayer(e, &(SublayerSpec) {
                .key = G(S1), .name = "sub one", .description = "", .flags = WFP_FLAG_PERSISTENT,
                .provider_key = G(P1), .provider_data = { (void *) BLOB2, sizeof(BLOB2) },
                .weight = 0x1234 }, NULL, NULL), 0);
        assert_int_equal(engine_add_sublayer(e, &(SublayerSpec) {
                .key = G(S2), .name = "sub two", .flags = WFP_FLAG_PERSISTENT, .weight = 0x1234 }, NULL, NULL), 0);
        assert_int_equal(engine_add_sublayer(e, &(SublayerSpec) {
                .key = G(S3), .name = "transient", .weight = 7 }, NULL, NULL), 0);

        assert_int_equal(engine_add_provider_context(e, &(ProviderContextSpec) {
                .key = G(C1), .name = "ike mm", .flags = WFP_FLAG_PERSISTENT, .provider_key = G(P1), .type = WFP_CONTEXT_TYPE_IPSEC_IKE_MM,
                .data = { (void *) BLOB1, sizeof(BLOB1) } }, NULL, NULL), 0);
        assert_int_equal(engine_add_provider_context(e, &(ProviderContextSpec) {
                .key = G(C2), .name = "qm, transport", .description = "x", .flags = WFP_FLAG_PERSISTENT,
                .type = 1, .provider_data = { (void *) BLOB2, sizeof(BLOB2) } }, NULL, NULL), 0);
        assert_int_equal(engine_add_provider_context(e, &(ProviderContextSpec) {
                .key = G(C3), .name = "transient", .type = 1 }, NULL, NULL), 0);

        assert_int_equal(engine_add_filter(e, &(FilterSpec) {
                .key = G(F1), .name = "ike mm policy", .flags = WFP_FLAG_PERSISTENT, .layer = "IKEEXT_V4",
                .action = WFP_ACTION_PERMIT, .provider_context_key = G(C1),
                .provider_key = G(P1) }, NULL, NULL), 0);
        assert_int_equal(engine_add_filter(e, &(FilterSpec) {
                .key = G(F2), .name = NAME_AWKWARD, .description = "block 7000-7010", .flags = WFP_FLAG_PERSISTENT,
                .layer = "INBOUND_TRANSPORT_V4", .sublayer_key = G(S1), .weight_kind = BFE_WEIGHT_RANGE, .weight = 7,
                .action = WFP_ACTION_BLOCK, .conditions = conds2, .n_conditions = ELEMENTSOF(conds2),
                .provider_data = { (void *) BLOB1, sizeof(BLOB1) } }, NULL, NULL), 0);
        assert_int_equal(engine_add_filter(e, &(FilterSpec) {
                .key = G(F3), .name = "require ipsec", .flags = WFP_FLAG_PERSISTENT | WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT,
                .layer = "OUTBOUND_TRANSPORT_V4", .sublayer_key = G(S2), .weight_kind = BFE_WEIGHT_EXPLICIT,
                .weight = UINT64_C(0xF000000000000123), .action = WFP_ACTION_CALLOUT_TERMINATING,
                .callout_key = G(CALLOUT_OUTBOUND_V4), .conditions = conds3, .n_conditions = ELEMENTSOF(conds3) },
                NULL, NULL), 0);
        assert_int_equal(engine_add_filter(e, &(FilterSpec) {
                .key = G(F4), .name = "transient", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                .sublayer_key = G(S3) }, NULL, NULL), 0);
        assert_int_equal(engine_add_filter(e, &(FilterSpec) {
                .key = G(F5), .name = "auto weight", .flags = WFP_FLAG_PERSISTENT, .layer = "INBOUND_TRANSPORT_V6",
                .action = WFP_ACTION_PERMIT, .conditions = conds2, .n_conditions = 1 }, NULL, NULL), 0);
        save(f);
}

static void assert_blob_equal(const Blob *a, const Blob *b) {
        assert_int_equal(a->size, b->size);
        if (a->size)
                assert_memory_equal(a->data, b->data, a->size);
}

static void assert_same_filter(const Filter *a, const Filter *b) {
        assert_string_equal(a->name, b->name);
        assert_true(streq_ptr(a->description, b->description));
        assert_int_equal(a->flags, b->flags);
        assert_int_equal(a->layer, b->layer);
        assert_true(guid_equal(&a->sublayer->key, &b->sublayer->key));
        assert_int_equal(a->weight_kind, b->weight_kind);
        assert_int_equal(a->weight, b->weight);
        assert_int_equal(a->effective_weight, b->effective_weight);
        assert_int_equal(a->action, b->action);
        BfeGuid ca = filter_callout_key(a), cb = filter_callout_key(b);
        assert_true(guid_equal(&ca, &cb));
        assert_int_equal(!!a->context, !!b->context);
        if (a->context)
                assert_true(guid_equal(&a->context->key, &b->context->key));
        assert_int_equal(!!a->provider, !!b->provider);
        if (a->provider)
                assert_true(guid_equal(&a->provider->key, &b->provider->key));
        assert_blob_equal(&a->provider_data, &b->provider_data);
        assert_int_equal(a->n_conditions, b->n_conditions);
        for (size_t i = 0; i < a->n_conditions; i++) {
                assert_int_equal(a->conditions[i].field, b->conditions[i].field);
                assert_int_equal(a->conditions[i].match, b->conditions[i].match);
                char ta[CONDITION_TEXT_MAX], tb[CONDITION_TEXT_MAX];

                assert_string_equal(condition_text(&a->conditions[i], ta), condition_text(&b->conditions[i], tb));
                assert_memory_equal(a->conditions[i].lo, b->conditions[i].lo, CONDITION_VALUE_MAX);
                assert_memory_equal(a->conditions[i].hi, b->conditions[i].hi, CONDITION_VALUE_MAX);
        }
}

/* store_load() of a file that must load whole: no problems, no error. */
static int load_clean(Store *store, Engine *e) {
        _cleanup_(store_problems_done) StoreProblems problems = {};
        _cleanup_(freep) char *error = NULL;
        int r;

        r = store_load(store, e, &problems, &error);
        if (error || problems.n_messages > 0)
                fail_msg("unexpected: %s", error ?: problems.messages[0]);
        return r;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_missing_file_loads_nothing(void **state) {
        Fixture *f = *state;
        _cleanup_(store_problems_done) StoreProblems problems = {};
        char *error = NULL;
        struct stat st;

        assert_int_equal(stat(f->dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(store_load(f->store, f->e, &problems, &error), 0);
        assert_null(error);
        assert_int_equal(problems.n_messages, 0);
        assert_true(engine_is_empty(f->e));
}

static void test_round_trip(void **state) {
        Fixture *f = *state;
        _cleanup_(engine_freep) Engine *e2 = NULL;
        _cleanup_(store_freep) Store *other = NULL;
        _cleanup_(freep) char *text1 = NULL, *text2 = NULL, *error = NULL;
        _cleanup_(store_problems_done) StoreProblems problems = {};
        char other_dir[128], other_path[160];
        size_t n1, n2;
        Sublayer *s;

        populate(f);
        assert_true(exists(f->path));

        assert_int_equal(engine_new(&e2), 0);
        /* P1; S1, S2; C1, C2; F1, F2, F3, F5 */
        assert_int_equal(store_load(f->store, e2, &problems, &error), 9);
        assert_null(error);
        assert_int_equal(problems.n_messages, 0);
        assert_false(engine_in_transaction(e2));

        /* providers */
        Provider *p = engine_get_provider(e2, K(P1));
        assert_non_null(p);
        assert_string_equal(p->name, NAME_AWKWARD);
        assert_string_equal(p->description, "d\te%s,c");
        assert_int_equal(p->flags, WFP_FLAG_PERSISTENT);
        assert_blob_equal(&p->provider_data, &(Blob) { (void *) BLOB1, sizeof(BLOB1) });
        assert_null(engine_get_provider(e2, K(P2)));

        /* sublayers: weight, provider, empty description kept apart from none, tie order */
        s = engine_get_sublayer(e2, K(S1));
        assert_non_null(s);
        assert_string_equal(s->name, "sub one");
        assert_non_null(s->description);
        assert_string_equal(s->description, "");
        assert_int_equal(s->weight, 0x1234);
        assert_non_null(s->provider);
        assert_true(guid_equal(&s->provider->key, &p->key));
        assert_blob_equal(&s->provider_data, &(Blob) { (void *) BLOB2, sizeof(BLOB2) });
        assert_non_null(s->next);
        assert_true(guid_equal(&s->next->key, K(S2)));
        assert_null(s->next->description);
        assert_null(engine_get_sublayer(e2, K(S3)));
        assert_true(engine_universal_sublayer(e2) != NULL);

        /* contexts */
        ProviderContext *c = engine_get_provider_context(e2, K(C1));
        assert_non_null(c);
        assert_int_equal(c->type, WFP_CONTEXT_TYPE_IPSEC_IKE_MM);
        assert_blob_equal(&c->data, &(Blob) { (void *) BLOB1, sizeof(BLOB1) });
        assert_blob_equal(&c->provider_data, &(Blob) {});
        assert_true(c->provider == p);
        c = engine_get_provider_context(e2, K(C2));
        assert_non_null(c);
        assert_string_equal(c->name, "qm, transport");
        assert_int_equal(c->type, 1);
        assert_null(c->provider);
        assert_blob_equal(&c->provider_data, &(Blob) { (void *) BLOB2, sizeof(BLOB2) });
        assert_null(engine_get_provider_context(e2, K(C3)));

        /* filters: everything the engine derives from them comes out the same */
        static const char *const keys[] = { F1, F2, F3, F5 };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                Filter *a = engine_get_filter_by_key(f->e, K(keys[i]));
                Filter *b = engine_get_filter_by_key(e2, K(keys[i]));
                assert_non_null(a);
                assert_non_null(b);
                assert_same_filter(a, b);
        }
        assert_null(engine_get_filter_by_key(e2, K(F4)));

        /* the MM policy brought its exemptions back */
        assert_true(count_owned(f->e) > 0);
        assert_true(engine_exemptions_active(e2));
        assert_int_equal(count_owned(e2), count_owned(f->e));
        assert_int_equal(engine_n_filters(e2), 4 + count_owned(e2));

        /* saving the loaded engine writes the very same bytes */
        snprintf(other_dir, sizeof(other_dir), "%s/lib/bfed/again", f->tmp);
        snprintf(other_path, sizeof(other_path), "%s/state", other_dir);
        assert_int_equal(store_new(other_dir, &other), 0);
        assert_int_equal(store_prepare(other, e2), 0);
        assert_int_equal(store_commit(other), 0);
        text1 = read_all(f->path, &n1);
        text2 = read_all(other_path, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(text1, text2, n1);
        assert_int_equal(unlink(other_path), 0);
        assert_int_equal(rmdir(other_dir), 0);

        /* readable: the header, the awkward name escaped, non-persistent objects absent */
        assert_true(strncmp(text1, "bfed-state 2\n", 13) == 0);
        assert_non_null(strstr(text1, "name=tab%09here%2C%20newline%0Athere%2C%20100%25%20sure;%20Grüße%20=%20✓%20 "));
        assert_non_null(strstr(text1, "condition=IP_LOCAL_PORT,5,7000-7010"));
        assert_non_null(strstr(text1, "condition=IP_REMOTE_ADDRESS,0,10.0.0.0/8"));
        assert_non_null(strstr(text1, "condition=FLAGS,6,loopback"));
        assert_null(strstr(text1, "transient"));
        assert_null(strstr(text1, "IKE/AuthIP"));
}

/* A persistent filter naming a built-in provider and sublayer: saved by key, found again after a
 * restart; the built-in objects themselves are not in the file. */
static void test_builtin_references(void **state) {
        Fixture *f = *state;
        _cleanup_(engine_freep) Engine *e2 = NULL;
        _cleanup_(freep) char *text = NULL;
        BfeGuid tunnel;
        Filter *x;
        size_t n;

        assert_int_equal(wfp_builtin_sublayer_from_name("IPSEC_TUNNEL", &tunnel), 0);
        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(engine_add_filter(f->e, &(FilterSpec) {
                .key = G(F1), .name = "in IPSEC_TUNNEL", .flags = WFP_FLAG_PERSISTENT, .layer = "INBOUND_TRANSPORT_V4",
                .action = WFP_ACTION_BLOCK, .sublayer_key = tunnel, .provider_key = G(WFP_PROVIDER_IKEEXT_GUID) },
                NULL, NULL), 0);
        save(f);
        text = read_all(f->path, &n);
        assert_null(strstr(text, "name=FWPM_"));      /* no built-in object is a record */

        assert_int_equal(engine_new(&e2), 0);
        assert_int_equal(load_clean(f->store, e2), 1);
        x = engine_get_filter_by_key(e2, K(F1));
        assert_non_null(x);
        assert_true(guid_equal(&x->sublayer->key, &tunnel));
        assert_true(x->sublayer->builtin);
        assert_true(guid_equal(&x->provider->key, K(WFP_PROVIDER_IKEEXT_GUID)));
}

/* FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED survives a restart with its callout filter. */
static void test_permit_if_unregistered_kept(void **state) {
        Fixture *f = *state;
        _cleanup_(engine_freep) Engine *e2 = NULL;
        Filter *x;

        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(engine_add_filter(f->e, &(FilterSpec) {
                .key = G(F1), .name = "callout", .layer = "INBOUND_TRANSPORT_V4",
                .flags = WFP_FLAG_PERSISTENT | WFP_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED,
                .action = WFP_ACTION_CALLOUT_TERMINATING, .callout_key = G("5132900d-5e84-4b5f-80e4-01741e81ff10") },
                NULL, NULL), 0);
        save(f);
        assert_int_equal(engine_new(&e2), 0);
        assert_int_equal(load_clean(f->store, e2), 1);
        x = engine_get_filter_by_key(e2, K(F1));
        assert_non_null(x);
        assert_int_equal(x->flags, WFP_FLAG_PERSISTENT | WFP_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED);
}

static void test_filters_keep_order_of_addition(void **state) {
        Fixture *f = *state;
        _cleanup_(engine_freep) Engine *e2 = NULL;
        Filter *a, *b;

        /* ten equal filters: only their order of addition orders them */
        assert_int_equal(engine_begin(f->e), 0);
        for (unsigned i = 0; i < 10; i++) {
                char name[16];
                snprintf(name, sizeof(name), "f%u", i);
                assert_int_equal(engine_add_filter(f->e, &(FilterSpec) {
                        .name = (char *) name, .flags = WFP_FLAG_PERSISTENT, .layer = "INBOUND_TRANSPORT_V4",
                        .action = i % 2 ? WFP_ACTION_BLOCK : WFP_ACTION_PERMIT }, NULL, NULL), 0);
        }
        save(f);
        /* an aborted delete puts f0 back at the end of the engine list; its place stays first */
        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(engine_delete_filter_by_key(f->e, &engine_filters(f->e)->key, NULL), 0);
        engine_abort(f->e);
        assert_string_equal(engine_filters(f->e)->name, "f1");
        assert_int_equal(engine_begin(f->e), 0);
        assert_false(store_changes_touch_persistent(f->e));
        assert_int_equal(store_prepare(f->store, f->e), 0);
        engine_commit(f->e);
        assert_int_equal(store_commit(f->store), 0);

        assert_int_equal(engine_new(&e2), 0);
        assert_int_equal(load_clean(f->store, e2), 10);
        a = engine_universal_sublayer(f->e)->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4];
        b = engine_universal_sublayer(e2)->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4];
        for (; a && b; a = a->lnext, b = b->lnext)
                assert_string_equal(a->name, b->name);
        assert_null(a);
        assert_null(b);
        assert_string_equal(engine_filters(e2)->name, "f0");
}

static void test_touch_persistent(void **state) {
        Fixture *f = *state;

        assert_int_equal(engine_begin(f->e), 0);
        assert_false(store_changes_touch_persistent(f->e));
        assert_int_equal(engine_add_provider(f->e, &(ProviderSpec) { .name = "x" }, NULL, NULL), 0);
        /* an MM policy that is not persistent: its exemptions are engine-owned, never saved */
        assert_int_equal(engine_add_provider_context(f->e, &(ProviderContextSpec) {
                .key = G(C1), .name = "mm", .type = WFP_CONTEXT_TYPE_IPSEC_IKE_MM }, NULL, NULL), 0);
        assert_int_equal(engine_add_filter(f->e, &(FilterSpec) {
                .name = "mm", .layer = "IKEEXT_V6", .action = WFP_ACTION_PERMIT, .provider_context_key = G(C1) }, NULL, NULL), 0);
        assert_true(count_owned(f->e) > 0);
        assert_false(store_changes_touch_persistent(f->e));
        engine_commit(f->e);

        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(engine_add_sublayer(f->e, &(SublayerSpec) { .key = G(S1), .name = "s",
                                                                      .flags = WFP_FLAG_PERSISTENT }, NULL, NULL), 0);
        assert_true(store_changes_touch_persistent(f->e));
        assert_int_equal(store_prepare(f->store, f->e), 0);
        engine_commit(f->e);
        assert_int_equal(store_commit(f->store), 0);

        /* deleting a persistent object is a change too */
        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(engine_delete_sublayer(f->e, K(S1), NULL), 0);
        assert_true(store_changes_touch_persistent(f->e));
        engine_abort(f->e);
}

/* The problem messages of a load, in one string (one a line), for matching. */
static char *joined(const StoreProblems *p) {
        size_t n = 1;
        char *s;

        for (size_t i = 0; i < p->n_messages; i++)
                n += strlen(p->messages[i]) + 1;
        s = calloc(1, n);
        assert_non_null(s);
        for (size_t i = 0; i < p->n_messages; i++) {
                strcat(s, p->messages[i]);
                strcat(s, "\n");
        }
        return s;
}

static void assert_has_problem(const StoreProblems *p, const char *prefix, const char *reason) {
        for (size_t i = 0; i < p->n_messages; i++)
                if (strncmp(p->messages[i], prefix, strlen(prefix)) == 0 && strstr(p->messages[i], reason))
                        return;
        fail_msg("no problem '%s…%s' in:\n%s", prefix, reason, joined(p));
}

/* --check-state on the current file: every problem named, @loaded objects, nothing written. */
static void check_salvage(Fixture *f, const char *prefix, const char *reason, int loaded, bool damaged) {
        _cleanup_(store_problems_done) StoreProblems problems = {};
        _cleanup_(freep) char *error = NULL, *before = NULL, *after = NULL;
        size_t n_before = 0, n_after = 0;

        before = read_all(f->path, &n_before);
        assert_int_equal(store_check_file(f->path, &problems, &error), loaded);
        assert_null(error);
        assert_has_problem(&problems, prefix, reason);
        assert_int_equal(problems.damaged, damaged);
        after = read_all(f->path, &n_after);
        assert_int_equal(n_before, n_after);
        assert_memory_equal(before, after, n_before);
}

static size_t count_entries(const char *dir, const char *prefix) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
        closedir(d);
        return n;
}

/* The one state.damaged-* of the directory, or NULL. */
static char *damaged_copy(Fixture *f) {
        DIR *d = opendir(f->dir);
        struct dirent *de;
        char *found = NULL;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "state.damaged-", 14) == 0) {
                        assert_null(found);
                        assert_true(asprintf(&found, "%s/%s", f->dir, de->d_name) > 0);
                }
        closedir(d);
        return found;
}

static void make_good_file(Fixture *f, char **ret_text, size_t *ret_size) {
        _cleanup_(engine_freep) Engine *keep = NULL;

        populate(f);
        /* start each load from an empty engine */
        keep = TAKE_PTR(f->e);
        assert_int_equal(engine_new(&f->e), 0);
        *ret_text = read_all(f->path, ret_size);
}

static unsigned line_of(const char *text, size_t offset) {
        unsigned line = 1;

        for (size_t i = 0; i < offset; i++)
                line += text[i] == '\n';
        return line;
}

/* A file cut anywhere still gives every complete record before the cut. */
static void test_truncated_salvaged(void **state) {
        Fixture *f = *state;
        _cleanup_(freep) char *text = NULL;
        size_t size;

        make_good_file(f, &text, &size);
        /* every cut: 0, inside the header, at line ends, inside records, inside the end line */
        for (size_t cut = 0; cut < size; cut += cut < 40 ? 1 : 7) {
                char prefix[256];
                unsigned line = line_of(text, cut);
                int complete = (int) line - 2; /* lines before the cut's line, less the header */

                write_all(f->path, text, cut);
                /* a cut right after a newline names that (complete) line: no end record after it */
                if (cut > 0 && text[cut - 1] == '\n' && cut > 13)
                        line--;
                snprintf(prefix, sizeof(prefix), "%s:%u: ", f->path, line);
                check_salvage(f, prefix, "truncated", complete < 0 ? 0 : complete > 9 ? 9 : complete, true);
        }
        /* cut just before the final newline: every record is there, the end record is not whole */
        write_all(f->path, text, size - 1);
        check_salvage(f, f->path, "truncated", 9, true);
}

/* What store_load() does with a damaged file: loads what it can, keeps the file as it was
 * under another name before anything overwrites it, puts the lines it could not load in
 * state.rejected, and rewrites the state file with what it loaded. */
static void test_damaged_file_kept(void **state) {
        Fixture *f = *state;
        _cleanup_(store_problems_done) StoreProblems problems = {};
        _cleanup_(freep) char *text = NULL, *error = NULL, *copy = NULL, *kept = NULL, *rejected = NULL;
        _cleanup_(freep) char *rej_path = NULL, *now = NULL;
        _cleanup_(engine_freep) Engine *e2 = NULL;
        size_t size, n_kept, cut;

        make_good_file(f, &text, &size);
        /* cut inside the last filter record: 8 records load, the cut one is rejected */
        cut = (size_t) (strstr(text, "name=auto%20weight") - text);
        write_all(f->path, text, cut);
        assert_int_equal(store_load(f->store, f->e, &problems, &error), 8);
        assert_null(error);
        assert_true(problems.damaged);
        assert_int_equal(problems.n_skipped, 1);
        assert_has_problem(&problems, f->path, "truncated");
        assert_has_problem(&problems, f->path, "kept the damaged file as");
        assert_has_problem(&problems, f->path, "appended to");
        assert_int_equal(engine_n_filters(f->e), 3 + count_owned(f->e));
        assert_false(engine_in_transaction(f->e));

        /* the damaged file, byte for byte */
        copy = damaged_copy(f);
        assert_non_null(copy);
        kept = read_all(copy, &n_kept);
        assert_int_equal(n_kept, cut);
        assert_memory_equal(kept, text, cut);

        /* the cut line, after a comment with the reason */
        assert_true(asprintf(&rej_path, "%s/state.rejected", f->dir) > 0);
        rejected = read_all(rej_path, NULL);
        assert_true(rejected[0] == '#');
        assert_non_null(strstr(rejected, "incomplete line (the file is truncated)\nfilter key=" F5));

        /* the state file now holds what is in force, and loads whole */
        assert_int_equal(engine_new(&e2), 0);
        assert_int_equal(load_clean(f->store, e2), 8);
        assert_int_equal(count_entries(f->dir, "state.damaged-"), 1);
        now = read_all(rej_path, NULL);
        assert_string_equal(now, rejected);
}

static void test_corrupt_salvaged(void **state) {
        Fixture *f = *state;
        _cleanup_(freep) char *text = NULL;
        char prefix[256];
        size_t size, at;

        make_good_file(f, &text, &size);
        snprintf(prefix, sizeof(prefix), "%s:%u: ", f->path, line_of(text, size - 1));

        /* a flipped bit in the middle of a name: the record still parses, and is loaded (the
         * damage is reported; the kept copy shows what changed) */
        at = (size_t) (strstr(text, "name=sub%20one") - text) + 5;
        text[at] ^= 0x01;
        write_all(f->path, text, size);
        check_salvage(f, prefix, "checksum mismatch", 9, true);
        text[at] ^= 0x01;

        /* a changed digit in a number: still the checksum */
        at = (size_t) (strstr(text, "weight=4660") - text) + 7;
        text[at] = '5';
        write_all(f->path, text, size);
        check_salvage(f, prefix, "checksum mismatch", 9, true);
        text[at] = '4';

        /* the end record itself */
        at = size - 3;
        text[at] = text[at] == '0' ? '1' : '0';
        write_all(f->path, text, size);
        check_salvage(f, prefix, "checksum mismatch", 9, true);

        /* not a state file at all: nothing loads, every line is named */
        write_all(f->path, "hello\nworld\n", 12);
        snprintf(prefix, sizeof(prefix), "%s:1: ", f->path);
        check_salvage(f, prefix, "not a bfed state file", 0, true);
        snprintf(prefix, sizeof(prefix), "%s:2: ", f->path);
        check_salvage(f, prefix, "unknown record type 'world'", 0, true);
}

/* Writes the records given with a correct header and end line. */
static void write_state(Fixture *f, unsigned version, const char *records) {
        _cleanup_(freep) char *body = NULL, *text = NULL;
        unsigned n = 0;
        uint32_t crc = UINT32_MAX;

        for (const char *p = records; *p; p++)
                n += *p == '\n';
        assert_true(asprintf(&body, "bfed-state %u\n%s", version, records) > 0);
        /* CRC-32 as zlib computes it */
        for (const char *p = body; *p; p++) {
                crc ^= (uint8_t) *p;
                for (int k = 0; k < 8; k++)
                        crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        assert_true(asprintf(&text, "%send %u %08x\n", body, n, ~crc) > 0);
        write_all(f->path, text, strlen(text));
}

#define PROV P1
#define PROVIDER_LINE "provider key=" P1 " name=p flags=0x1\n"

static void test_written_file_loads(void **state) {
        Fixture *f = *state;

        /* the test's own writer agrees with the store's: the base case of the tests below */
        for (unsigned version = 1; version <= 2; version++) {
                _cleanup_(engine_freep) Engine *e = NULL;

                assert_int_equal(engine_new(&e), 0);
                write_state(f, version, PROVIDER_LINE "filter key=" F1 " name=f flags=0x1 provider=" P1
                                        " layer=INBOUND_TRANSPORT_V4 sublayer=" WFP_SUBLAYER_UNIVERSAL_GUID
                                        " weight=auto action=block condition=IP_LOCAL_PORT,0,22\n");
                assert_int_equal(load_clean(f->store, e), 2);
                assert_int_equal(engine_n_filters(e), 1);
        }
}

/* A newer version is refused whole, and the file is not touched: an older bfed must not
 * destroy (rewrite, move) a newer file. */
static void test_newer_version_refused(void **state) {
        Fixture *f = *state;
        _cleanup_(store_problems_done) StoreProblems problems = {}, check = {};
        _cleanup_(freep) char *error = NULL, *check_error = NULL, *before = NULL, *after = NULL;
        char prefix[256];
        size_t n_before, n_after;

        snprintf(prefix, sizeof(prefix), "%s:1: state version 3 is newer than this bfed (2)", f->path);
        write_state(f, 3, PROVIDER_LINE);
        before = read_all(f->path, &n_before);
        assert_int_equal(store_load(f->store, f->e, &problems, &error), -EPROTONOSUPPORT);
        assert_non_null(error);
        assert_string_equal(error, prefix);
        assert_int_equal(problems.n_messages, 0);
        assert_true(engine_is_empty(f->e));
        assert_int_equal(store_check_file(f->path, &check, &check_error), -EPROTONOSUPPORT);
        assert_string_equal(check_error, prefix);
        after = read_all(f->path, &n_after);
        assert_int_equal(n_before, n_after);
        assert_memory_equal(before, after, n_before);
        assert_int_equal(count_entries(f->dir, "state."), 0);

        /* version 0 is damage: the records are still read */
        snprintf(prefix, sizeof(prefix), "%s:1: ", f->path);
        write_state(f, 0, PROVIDER_LINE);
        check_salvage(f, prefix, "state version 0 is not valid", 1, true);
}

/* A refused record is skipped with its reason, alone; the others load. */
static void test_bad_records_skipped(void **state) {
        Fixture *f = *state;
        static const struct {
                const char *records;
                unsigned line;
                const char *reason;
                int loaded;
        } cases[] = {
                /* references that do not resolve */
                { PROVIDER_LINE "filter key=" F1 " name=f flags=0x1 provider=" P2 " layer=INBOUND_TRANSPORT_V4 "
                  "sublayer=" WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block\n",
                  3, "filter 'f': FWP_E_PROVIDER_NOT_FOUND: no provider " P2, 1 },
                { "sublayer key=" S1 " name=s flags=0x1 provider=" P1 " weight=3\n" PROVIDER_LINE,
                  2, "sublayer 's': FWP_E_PROVIDER_NOT_FOUND", 1 },
                { "filter key=" F1 " name=f flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer=" S1 " weight=auto "
                  "action=block\n", 2, "FWP_E_SUBLAYER_NOT_FOUND", 0 },
                { "filter key=" F1 " name=f flags=0x5 layer=IKEEXT_V4 sublayer=" WFP_SUBLAYER_UNIVERSAL_GUID
                  " weight=auto action=permit context=" C1 "\n", 2, "FWP_E_PROVIDER_CONTEXT_NOT_FOUND", 0 },
                /* what depends on a skipped record is skipped too */
                { "provider key=" P1 " name=p flags=0x1 colour=blue\n"
                  "sublayer key=" S1 " name=s flags=0x1 provider=" P1 " weight=3\n"
                  "filter key=" F1 " name=f flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer=" S1 " weight=auto "
                  "action=block\n"
                  "filter key=" F2 " name=g flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block\n", 4, "FWP_E_SUBLAYER_NOT_FOUND", 1 },
                /* values the engine refuses */
                { PROVIDER_LINE PROVIDER_LINE, 3, "provider 'p': FWP_E_ALREADY_EXISTS", 1 },
                { "filter key=" F1 " name=x flags=0x1 layer=FOO sublayer=" WFP_SUBLAYER_UNIVERSAL_GUID
                  " weight=auto action=block\n", 2, "filter 'x': FWP_E_LAYER_NOT_FOUND: no layer 'FOO'", 0 },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=IP_LOCAL_PORT,5,9-1\n",
                  2, "filter 'x': FWP_E_INVALID_RANGE", 0 },
                { "context key=" C1 " name=c flags=0x1 type=99\n", 2, "FWP_E_INVALID_ENUMERATOR", 0 },
                /* malformed lines */
                { "provider key=" P1 " name=p\n", 2, "field 'flags' is missing", 0 },
                { "provider key=" P1 " name=p flags=0x1 colour=blue\n", 2, "unknown field 'colour'", 0 },
                { "provider key=" P1 " name=p name=q flags=0x1\n", 2, "field 'name' appears twice", 0 },
                { "provider key=" P1 " name=p  flags=0x1\n", 2, "empty field", 0 },
                { "provider key=" P1 " name=p flags=0x1 \n", 2, "empty field", 0 },
                { "provider key=" P1 " name=p flags=1\n", 2, "field 'flags'", 0 },
                { "provider key=nope name=p flags=0x1\n", 2, "'nope' is not a GUID", 0 },
                { "provider key=" P1 " name=a%2 flags=0x1\n", 2, "bad escape", 0 },
                { "provider key=" P1 " name=a%00b flags=0x1\n", 2, "NUL", 0 },
                { "provider key=" P1 " name=a\tb flags=0x1\n", 2, "control character", 0 },
                { "provider key=" P1 " name=p flags=0x1 data=abc\n", 2, "not hex", 0 },
                { "provider key=" P1 " name=p flags=0x0\n", 2, "not marked persistent", 0 },
                { "widget key=" P1 "\n", 2, "unknown record type 'widget'", 0 },
                { "\n" PROVIDER_LINE, 2, "empty record type", 1 },
                { PROVIDER_LINE "sublayer key=" S1 " name=s flags=0x1 weight=70000\n", 3, "field 'weight'", 1 },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=heavy action=block\n", 2, "field 'weight'", 0 },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=maybe\n", 2, "field 'action'", 0 },
                /* one spelling of each value, the one written: not bfectl's, and no octal */
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=range:010 action=block\n", 2,
                  "field 'weight': 'range:010' is not", 0 },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=range:16 action=block\n", 2, "range:N (N 0-15)", 0 },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight==5 action=block\n", 2, "field 'weight'", 0 },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=BLOCK\n", 2, "field 'action'", 0 },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=4097\n", 2, "field 'action'", 0 },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=IP_LOCAL_PORT\n", 2,
                  "FIELD,MATCH,VALUE", 0 },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=IP_LOCAL_PORT,0,22,x\n", 2,
                  "a fourth part", 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char prefix[256];

                write_state(f, 2, cases[i].records);
                snprintf(prefix, sizeof(prefix), "%s:%u: ", f->path, cases[i].line);
                check_salvage(f, prefix, cases[i].reason, cases[i].loaded, false);
        }
}

/* store_load() with refused records: they are skipped, logged (returned), appended to
 * state.rejected after a comment with the time and the reason; the state file is rewritten
 * without them; nothing is kept as damaged (the file is whole). */
static void test_skipped_records_rejected(void **state) {
        Fixture *f = *state;
        _cleanup_(store_problems_done) StoreProblems problems = {};
        _cleanup_(freep) char *error = NULL, *rej_path = NULL, *rejected = NULL, *state_text = NULL;
        _cleanup_(engine_freep) Engine *e2 = NULL;
        char prefix[256];
        static const char bad_filter[] = "filter key=" F2 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                                         WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block "
                                         "condition=IP_LOCAL_PORT,5,9-1";

        write_state(f, 2, PROVIDER_LINE "filter key=" F1 " name=f flags=0x1 provider=" P1
                          " layer=INBOUND_TRANSPORT_V4 sublayer=" WFP_SUBLAYER_UNIVERSAL_GUID
                          " weight=auto action=block condition=IP_LOCAL_PORT,0,22\n"
                          "widget key=" P2 "\n" "provider key=" P2 " name=q flags=0x1\n"
                          "filter key=" F2 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                          WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=IP_LOCAL_PORT,5,9-1\n");
        assert_int_equal(store_load(f->store, f->e, &problems, &error), 3);
        assert_null(error);
        assert_false(problems.damaged);
        assert_int_equal(problems.n_skipped, 2);
        snprintf(prefix, sizeof(prefix), "%s:4: ", f->path);
        assert_true(strncmp(problems.messages[0], prefix, strlen(prefix)) == 0);
        assert_non_null(strstr(problems.messages[0], "unknown record type 'widget'"));
        snprintf(prefix, sizeof(prefix), "%s:6: ", f->path);
        assert_true(strncmp(problems.messages[1], prefix, strlen(prefix)) == 0);
        assert_non_null(strstr(problems.messages[1], "FWP_E_INVALID_RANGE"));
        assert_has_problem(&problems, f->path, "2 records not loaded; appended to");
        assert_null(problems.messages[problems.n_messages]);
        assert_non_null(engine_get_provider(f->e, K(P2)));
        assert_null(engine_get_filter_by_key(f->e, K(F2)));
        assert_int_equal(count_entries(f->dir, "state.damaged-"), 0);

        /* "# TIME FILE:LINE: reason" then the line as it was, for each */
        assert_true(asprintf(&rej_path, "%s/state.rejected", f->dir) > 0);
        rejected = read_all(rej_path, NULL);
        assert_true(strncmp(rejected, "# ", 2) == 0);
        assert_non_null(strstr(rejected, "unknown record type 'widget'\nwidget key=" P2 "\n# "));
        assert_non_null(strstr(rejected, "FWP_E_INVALID_RANGE"));
        assert_non_null(strstr(rejected, bad_filter));
        assert_int_equal(line_of(rejected, strlen(rejected)), 5);

        /* the state file holds the three that loaded, whole */
        state_text = read_all(f->path, NULL);
        assert_null(strstr(state_text, "widget"));
        assert_int_equal(engine_new(&e2), 0);
        assert_int_equal(load_clean(f->store, e2), 3);
}

/* Invalid UTF-8 behind a valid checksum: the record is skipped with a clear reason (sd-bus
 * could not send it: every Enum would fail), the rest loads. */
static void test_bad_utf8_skipped(void **state) {
        Fixture *f = *state;
        static const struct {
                const char *record;
                const char *reason;
        } cases[] = {
                { "provider key=" P2 " name=caf\xe9 flags=0x1\n", "field 'name' is not valid UTF-8" },
                { "provider key=" P2 " name=caf%E9 flags=0x1\n", "field 'name' is not valid UTF-8" },
                { "provider key=" P2 " name=q description=%C3 flags=0x1\n", "field 'description' is not valid UTF-8" },
                { "sublayer key=" S1 " name=%ED%A0%80 flags=0x1 weight=1\n", "field 'name' is not valid UTF-8" },
                { "context key=" C1 " name=%EF%BF%BE flags=0x1 type=1\n", "field 'name' is not valid UTF-8" },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=IP_LOCAL_INTERFACE,0,eth%FF\n",
                  "condition IP_LOCAL_INTERFACE: the value is not valid UTF-8" },
                { "filter key=" F1 " name=x flags=0x1 layer=ALE_AUTH_CONNECT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=ALE_USER_ID,0,7,b%C0%AFd\n",
                  "condition ALE_USER_ID: the value is not valid UTF-8" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *records = NULL;
                char prefix[256];

                assert_true(asprintf(&records, PROVIDER_LINE "%s", cases[i].record) > 0);
                write_state(f, 2, records);
                snprintf(prefix, sizeof(prefix), "%s:3: ", f->path);
                check_salvage(f, prefix, cases[i].reason, 1, false);
        }
}

static void test_count_mismatch_salvaged(void **state) {
        Fixture *f = *state;
        char prefix[256];
        /* a correct CRC but a count that disagrees: a hand-made file, judged as truncated */
        static const char text[] = "bfed-state 1\n" PROVIDER_LINE "end 2 ";
        uint32_t crc = UINT32_MAX;
        char full[512];

        for (const char *p = "bfed-state 1\n" PROVIDER_LINE; *p; p++) {
                crc ^= (uint8_t) *p;
                for (int k = 0; k < 8; k++)
                        crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        snprintf(full, sizeof(full), "%s%08x\n", text, ~crc);
        write_all(f->path, full, strlen(full));
        snprintf(prefix, sizeof(prefix), "%s:3: ", f->path);
        check_salvage(f, prefix, "file is truncated (expected 2 records, found 1)", 1, true);
}

/* ALE_USER_ID: version 2 keeps the uid (and the name given), so a restart needs no NSS and
 * a deleted user does not stop it; version 1 files, which hold the name, still load. */
static void test_user_id(void **state) {
        Fixture *f = *state;
        _cleanup_(engine_freep) Engine *e2 = NULL, *e3 = NULL;
        _cleanup_(freep) char *text = NULL;
        static ConditionSpec by_name = { "ALE_USER_ID", 0, "root" };
        static ConditionSpec by_uid = { "ALE_USER_ID", WFP_MATCH_NOT_EQUAL, "65534" };
        const char *missing = "bfed-no-such-user";
        char ctext[CONDITION_TEXT_MAX];
        Filter *x;
        uint32_t uid;

        assert_null(getpwnam(missing));
        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(engine_add_filter(f->e, &(FilterSpec) {
                .key = G(F1), .name = "by name", .flags = WFP_FLAG_PERSISTENT, .layer = "ALE_AUTH_CONNECT_V4",
                .action = WFP_ACTION_BLOCK, .conditions = &by_name, .n_conditions = 1 }, NULL, NULL), 0);
        assert_int_equal(engine_add_filter(f->e, &(FilterSpec) {
                .key = G(F2), .name = "by uid", .flags = WFP_FLAG_PERSISTENT, .layer = "ALE_AUTH_CONNECT_V6",
                .action = WFP_ACTION_BLOCK, .conditions = &by_uid, .n_conditions = 1 }, NULL, NULL), 0);
        save(f);
        text = read_all(f->path, NULL);
        /* the uid as resolved, then the name as given; a uid given as such stands alone */
        assert_non_null(strstr(text, " condition=ALE_USER_ID,0,0,root\n"));
        assert_non_null(strstr(text, " condition=ALE_USER_ID,10,65534\n"));

        assert_int_equal(engine_new(&e2), 0);
        assert_int_equal(load_clean(f->store, e2), 2);
        x = engine_get_filter_by_key(e2, K(F1));
        assert_string_equal(condition_text(&x->conditions[0], ctext), "root");
        memcpy(&uid, x->conditions[0].lo, sizeof(uid));
        assert_int_equal(uid, 0);
        assert_string_equal(condition_text(&engine_get_filter_by_key(e2, K(F2))->conditions[0], ctext), "65534");

        /* a user that no longer exists: the uid is what counts, no lookup is made */
        write_state(f, 2, "filter key=" F1 " name=f flags=0x1 layer=ALE_AUTH_CONNECT_V4 sublayer="
                          WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=ALE_USER_ID,0,4242,"
                          "bfed-no-such-user\n");
        assert_int_equal(engine_new(&e3), 0);
        assert_int_equal(load_clean(f->store, e3), 1);
        x = engine_get_filter_by_key(e3, K(F1));
        assert_string_equal(condition_text(&x->conditions[0], ctext), missing);
        memcpy(&uid, x->conditions[0].lo, sizeof(uid));
        assert_int_equal(uid, 4242);

        /* version 2 holds uids only: a name there is not looked up */
        write_state(f, 2, "filter key=" F1 " name=f flags=0x1 layer=ALE_AUTH_CONNECT_V4 sublayer="
                          WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=ALE_USER_ID,0,root\n");
        check_salvage(f, f->path, "condition ALE_USER_ID: 'root' is not a uid", 0, false);

        /* version 1: the name is resolved as before, when the user exists ... */
        engine_free(TAKE_PTR(e3));
        assert_int_equal(engine_new(&e3), 0);
        write_state(f, 1, PROVIDER_LINE "filter key=" F1 " name=f flags=0x1 layer=ALE_AUTH_CONNECT_V4 sublayer="
                          WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=ALE_USER_ID,0,root\n");
        assert_int_equal(load_clean(f->store, e3), 2);
        x = engine_get_filter_by_key(e3, K(F1));
        assert_string_equal(condition_text(&x->conditions[0], ctext), "root");
        /* ... and when it does not, only that record is skipped */
        write_state(f, 1, PROVIDER_LINE "filter key=" F1 " name=f flags=0x1 layer=ALE_AUTH_CONNECT_V4 sublayer="
                          WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=ALE_USER_ID,0,"
                          "bfed-no-such-user\n");
        check_salvage(f, f->path, "FWP_E_TYPE_MISMATCH: 'bfed-no-such-user' is not a uid or a user name", 1, false);
}

static void on_alarm(int sig) {
        /* open() blocked on the FIFO: the bug this test is about */
        static const char msg[] = "test-store: timed out: opening the state file blocked\n";
        (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
        _exit(1);
}

/* Something not a regular file at the state path (a FIFO, a symbolic link, a directory)
 * neither hangs the start (a FIFO's open() would block) nor stops it: it is moved aside,
 * named in the problems, and nothing is loaded. --check-state refuses it, without hanging. */
static void test_not_regular_moved_aside(void **state) {
        Fixture *f = *state;
        char target[200];

        signal(SIGALRM, on_alarm);
        for (int kind = 0; kind < 4; kind++) {
                _cleanup_(store_problems_done) StoreProblems problems = {}, check = {};
                _cleanup_(freep) char *error = NULL, *check_error = NULL, *copy = NULL;
                _cleanup_(engine_freep) Engine *e = NULL;
                static const char *const what[] = { "a FIFO", "a symbolic link", "a symbolic link", "a directory" };
                struct stat st;

                snprintf(target, sizeof(target), "%s/elsewhere", f->tmp);
                switch (kind) {
                case 0:
                        assert_int_equal(mkfifo(f->path, 0600), 0);
                        break;
                case 1: /* to a FIFO */
                        assert_int_equal(mkfifo(target, 0600), 0);
                        assert_int_equal(symlink(target, f->path), 0);
                        break;
                case 2: /* to a good state file: bfed's saves replace the path, a link there is not its own */
                        write_state(f, 2, PROVIDER_LINE);
                        assert_int_equal(rename(f->path, target), 0);
                        assert_int_equal(symlink(target, f->path), 0);
                        break;
                case 3:
                        assert_int_equal(mkdir(f->path, 0700), 0);
                        break;
                }
                alarm(10);
                if (kind != 2) {
                        assert_true(store_check_file(f->path, &check, &check_error) < 0);
                        assert_non_null(strstr(check_error, "not a regular file"));
                }
                assert_int_equal(engine_new(&e), 0);
                assert_int_equal(store_load(f->store, e, &problems, &error), 0);
                alarm(0);
                assert_null(error);
                assert_true(problems.damaged);
                assert_int_equal(problems.n_messages, 1);
                assert_non_null(strstr(problems.messages[0], what[kind]));
                assert_non_null(strstr(problems.messages[0], "moved it to"));
                assert_true(strncmp(problems.messages[0], f->path, strlen(f->path)) == 0);
                assert_true(engine_is_empty(e));
                /* moved, not followed: the link's target is as it was */
                assert_int_equal(lstat(f->path, &st), -1);
                copy = damaged_copy(f);
                assert_non_null(copy);
                assert_int_equal(lstat(copy, &st), 0);
                assert_int_equal(S_ISREG(st.st_mode), false);
                assert_int_equal(remove(copy), 0);
                (void) unlink(target);
        }
}

static void test_discard_keeps_old_state(void **state) {
        Fixture *f = *state;
        _cleanup_(freep) char *before = NULL, *after = NULL, *tmp = NULL;
        size_t n_before, n_after;

        populate(f);
        before = read_all(f->path, &n_before);
        assert_true(asprintf(&tmp, "%s/state.tmp", f->dir) > 0);
        assert_false(exists(tmp));

        /* the kernel refuses the batch that would have deleted F2 */
        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(engine_delete_filter_by_key(f->e, K(F2), NULL), 0);
        assert_true(store_changes_touch_persistent(f->e));
        assert_int_equal(store_prepare(f->store, f->e), 0);
        assert_true(exists(tmp));
        store_discard(f->store);
        engine_abort(f->e);
        assert_false(exists(tmp));
        assert_int_equal(store_commit(f->store), -EBADE);

        after = read_all(f->path, &n_after);
        assert_int_equal(n_before, n_after);
        assert_memory_equal(before, after, n_before);

        /* and when it accepts, the delete is saved */
        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(engine_delete_filter_by_key(f->e, K(F2), NULL), 0);
        save(f);
        assert_false(exists(tmp));
        free(after);
        after = read_all(f->path, &n_after);
        assert_null(strstr(after, F2));
        assert_non_null(strstr(before, F2));
}

/* A file too large to read (above 1 GiB; sparse here) is kept aside whole, and replaced by a
 * state file for what is in force: nothing. */
static void test_too_large_kept(void **state) {
        Fixture *f = *state;
        _cleanup_(store_problems_done) StoreProblems problems = {};
        _cleanup_(freep) char *error = NULL, *copy = NULL;
        struct stat st;
        int fd;

        fd = open(f->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, ((off_t) 1 << 30) + 1), 0);
        assert_int_equal(close(fd), 0);
        assert_int_equal(store_load(f->store, f->e, &problems, &error), 0);
        assert_null(error);
        assert_true(problems.damaged);
        assert_has_problem(&problems, f->path, "is larger than 1 GiB; kept it as");
        copy = damaged_copy(f);
        assert_non_null(copy);
        assert_int_equal(stat(copy, &st), 0);
        assert_int_equal(st.st_size, ((off_t) 1 << 30) + 1);
        assert_int_equal(load_clean(f->store, f->e), 0);
}

static void test_check_file(void **state) {
        Fixture *f = *state;
        _cleanup_(store_problems_done) StoreProblems problems = {};
        _cleanup_(freep) char *error = NULL;
        char other[160];

        populate(f);
        assert_int_equal(store_check_file(f->path, &problems, &error), 9);
        assert_null(error);
        assert_int_equal(problems.n_messages, 0);

        store_problems_done(&problems);

        /* a missing file is an error when it is asked for by name */
        snprintf(other, sizeof(other), "%s/other", f->tmp);
        assert_int_equal(store_check_file(other, &problems, &error), -ENOENT);
        assert_non_null(error);
        assert_non_null(strstr(error, other));
        free(TAKE_PTR(error));

        /* an empty file is a truncated one */
        write_all(other, "", 0);
        assert_int_equal(store_check_file(other, &problems, &error), 0);
        assert_null(error);
        assert_true(problems.damaged);
        assert_non_null(strstr(problems.messages[0], ":1: file is truncated"));
}

static void test_engine_in_transaction_refused(void **state) {
        Fixture *f = *state;
        _cleanup_(store_problems_done) StoreProblems problems = {};
        _cleanup_(freep) char *error = NULL, *before = NULL, *after = NULL;

        write_state(f, 1, PROVIDER_LINE);
        before = read_all(f->path, NULL);
        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(store_load(f->store, f->e, &problems, &error), wfp_ret(FWP_E_TXN_IN_PROGRESS));
        assert_non_null(error);
        engine_abort(f->e);
        after = read_all(f->path, NULL);
        assert_string_equal(before, after);
}

/* The bytes of the state file, fixed: written by the store before its records were driven by
 * the field tables, and kept as they were since. Every kind, every optional field present and
 * absent, escapes, the three weight kinds, a callout, conditions, and both forms of ALE_USER_ID. */
#define GOLDEN_RECORDS_V2 \
        "provider key=11111111-0000-4000-8000-000000000001 " \
        "name=tab%09here%2C%20newline%0Athere%2C%20100%25%20sure;%20Grüße%20=%20✓%20 " \
        "description=d%09e%25s%2Cc flags=0x1 data=00ff25200a7f802c\n" \
        "sublayer key=22222222-0000-4000-8000-000000000001 name=sub%20one description= flags=0x1 " \
        "provider=11111111-0000-4000-8000-000000000001 data=deadbeef weight=4660\n" \
        "sublayer key=22222222-0000-4000-8000-000000000002 name=sub%20two flags=0x1 weight=4660\n" \
        "context key=33333333-0000-4000-8000-000000000001 name=ike%20mm flags=0x1 " \
        "provider=11111111-0000-4000-8000-000000000001 type=5 context-data=00ff25200a7f802c\n" \
        "context key=33333333-0000-4000-8000-000000000002 name=qm%2C%20transport description=x flags=0x1 " \
        "data=deadbeef type=1\n" \
        "filter key=44444444-0000-4000-8000-000000000001 name=ike%20mm%20policy flags=0x5 " \
        "provider=11111111-0000-4000-8000-000000000001 layer=IKEEXT_V4 " \
        "sublayer=eebecc03-ced4-4380-819a-2734397b2b74 weight=auto action=permit " \
        "context=33333333-0000-4000-8000-000000000001\n" \
        "filter key=44444444-0000-4000-8000-000000000002 " \
        "name=tab%09here%2C%20newline%0Athere%2C%20100%25%20sure;%20Grüße%20=%20✓%20 " \
        "description=block%207000-7010 flags=0x1 data=00ff25200a7f802c layer=INBOUND_TRANSPORT_V4 " \
        "sublayer=22222222-0000-4000-8000-000000000001 weight=range:7 action=block " \
        "condition=IP_LOCAL_PORT,5,7000-7010 condition=IP_REMOTE_ADDRESS,0,10.0.0.0/8 " \
        "condition=FLAGS,6,loopback\n" \
        "filter key=44444444-0000-4000-8000-000000000003 name=require%20ipsec flags=0x9 " \
        "layer=OUTBOUND_TRANSPORT_V4 sublayer=22222222-0000-4000-8000-000000000002 " \
        "weight=explicit:17293822569102704931 action=callout callout=4b46bf0a-4523-4e57-aa38-a87987c910d9 " \
        "condition=IP_REMOTE_PORT,0,500 condition=IP_REMOTE_PORT,0,4500 condition=IP_LOCAL_INTERFACE,10,lo " \
        "condition=IP_PROTOCOL,0,udp\n" \
        "filter key=44444444-0000-4000-8000-000000000005 name=auto%20weight flags=0x1 " \
        "layer=INBOUND_TRANSPORT_V6 sublayer=eebecc03-ced4-4380-819a-2734397b2b74 weight=auto action=permit " \
        "condition=IP_LOCAL_PORT,5,7000-7010\n" \
        "filter key=44444444-0000-4000-8000-000000000006 name=by%20name description=root%2C%20100%25 " \
        "flags=0x1 layer=ALE_AUTH_CONNECT_V4 sublayer=eebecc03-ced4-4380-819a-2734397b2b74 weight=auto " \
        "action=block condition=ALE_USER_ID,0,0,root\n" \
        "filter key=44444444-0000-4000-8000-000000000007 name=by%20uid flags=0x9 " \
        "provider=11111111-0000-4000-8000-000000000001 data=deadbeef layer=ALE_AUTH_CONNECT_V6 " \
        "sublayer=22222222-0000-4000-8000-000000000002 weight=range:15 action=permit " \
        "condition=ALE_USER_ID,10,65534\n"
#define GOLDEN_END_V2 "end 11 2d007541\n"

/* populate()'s objects, and two filters on the user. */
static void populate_golden(Fixture *f) {
        static ConditionSpec by_name = { "ALE_USER_ID", WFP_MATCH_EQUAL, "root" };
        static ConditionSpec by_uid = { "ALE_USER_ID", WFP_MATCH_NOT_EQUAL, "65534" };

        populate(f);
        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(engine_add_filter(f->e, &(FilterSpec) {
                .key = G(F6), .name = "by name", .description = "root, 100%", .flags = WFP_FLAG_PERSISTENT,
                .layer = "ALE_AUTH_CONNECT_V4", .action = WFP_ACTION_BLOCK, .conditions = &by_name,
                .n_conditions = 1 }, NULL, NULL), 0);
        assert_int_equal(engine_add_filter(f->e, &(FilterSpec) {
                .key = G(F7), .name = "by uid", .flags = WFP_FLAG_PERSISTENT | WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT,
                .provider_key = G(P1), .provider_data = { (void *) BLOB2, sizeof(BLOB2) },
                .layer = "ALE_AUTH_CONNECT_V6", .sublayer_key = G(S2), .weight_kind = BFE_WEIGHT_RANGE,
                .weight = 15, .action = WFP_ACTION_PERMIT, .conditions = &by_uid, .n_conditions = 1 },
                NULL, NULL), 0);
        save(f);
}

/* store_load() of @text written at the state path, then the store's file for what loaded. */
static char *reload(Fixture *f, const char *text) {
        _cleanup_(engine_freep) Engine *e = NULL;

        write_all(f->path, text, strlen(text));
        assert_int_equal(engine_new(&e), 0);
        assert_int_equal(load_clean(f->store, e), 11);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(store_prepare(f->store, e), 0);
        engine_commit(e);
        assert_int_equal(store_commit(f->store), 0);
        return read_all(f->path, NULL);
}

/* The file format does not change: the same objects give the same bytes, and the bytes of
 * either version load to objects that give them again. */
static void test_golden(void **state) {
        Fixture *f = *state;
        static const char golden[] = "bfed-state 2\n" GOLDEN_RECORDS_V2 GOLDEN_END_V2;
        _cleanup_(freep) char *text = NULL, *again = NULL, *v1 = NULL, *from_v1 = NULL;
        char *uid;

        populate_golden(f);
        text = read_all(f->path, NULL);
        if (!streq(text, golden)) {
                print_message("%s", text);
                fail_msg("the state file differs from the golden one (printed above)");
        }
        again = reload(f, golden);
        assert_string_equal(again, golden);

        /* version 1 held the name alone: "ALE_USER_ID,0,root" where version 2 has the uid first */
        v1 = strdup(GOLDEN_RECORDS_V2);
        assert_non_null(v1);
        uid = strstr(v1, "ALE_USER_ID,0,0,root\n");
        assert_non_null(uid);
        uid += strlen("ALE_USER_ID,0,");
        memmove(uid, uid + 2, strlen(uid + 2) + 1);             /* "0,root\n" -> "root\n" */
        write_state(f, 1, v1);
        free(text);
        text = read_all(f->path, NULL);
        assert_non_null(strstr(text, "bfed-state 1\n"));
        from_v1 = reload(f, text);
        assert_string_equal(from_v1, golden);
}

/* The buffer entry point reads from memory alone (the fuzzers use it). */
static void test_load_buffer(void **state) {
        Fixture *f = *state;
        _cleanup_(store_problems_done) StoreProblems problems = {};
        _cleanup_(freep) char *text = NULL, *error = NULL;
        size_t size;

        make_good_file(f, &text, &size);
        assert_int_equal(unlink(f->path), 0);
        /* not NUL-terminated: the byte after the buffer must not be read */
        text[size] = 'x';
        assert_int_equal(store_load_buffer("mem", text, size, f->e, &problems, &error), 9);
        assert_int_equal(problems.n_messages, 0);
        assert_int_equal(count_entries(f->dir, "state"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_missing_file_loads_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_builtin_references, setup, teardown),
                cmocka_unit_test_setup_teardown(test_permit_if_unregistered_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(test_filters_keep_order_of_addition, setup, teardown),
                cmocka_unit_test_setup_teardown(test_touch_persistent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_salvaged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_damaged_file_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_salvaged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_written_file_loads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_records_skipped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_skipped_records_rejected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_utf8_skipped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_count_mismatch_salvaged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_user_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_regular_moved_aside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_discard_keeps_old_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_large_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_engine_in_transaction_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_buffer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_golden, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
