/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-store.c — the persistence store: round trip, refused files (truncated, corrupt, newer,
 * bad references) that change nothing, and the prepare/commit/discard protocol. */
#include <errno.h>
#include <fcntl.h>
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

static int teardown(void **state) {
        Fixture *f = *state;
        char p[256];

        store_free(f->store);
        engine_free(f->e);
        (void) unlink(f->path);
        snprintf(p, sizeof(p), "%s/state.tmp", f->dir);
        (void) unlink(p);
        snprintf(p, sizeof(p), "%s/other", f->tmp);
        (void) unlink(p);
        (void) rmdir(f->dir);
        snprintf(p, sizeof(p), "%s/lib", f->tmp);
        (void) rmdir(p);
        assert_int_equal(rmdir(f->tmp), 0);
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
                n++;
        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                n++;
        for (ProviderContext *c = engine_provider_contexts(e); c; c = c->next)
                n++;
        return n + engine_n_filters(e);
}

static bool engine_is_empty(const Engine *e) {
        return count_objects(e) == 1 && !engine_in_transaction(e); /* the universal sublayer */
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
        assert_true(guid_equal(&a->callout_key, &b->callout_key));
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
                assert_string_equal(a->conditions[i].text, b->conditions[i].text);
                assert_memory_equal(a->conditions[i].lo, b->conditions[i].lo, CONDITION_VALUE_MAX);
                assert_memory_equal(a->conditions[i].hi, b->conditions[i].hi, CONDITION_VALUE_MAX);
        }
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_missing_file_loads_nothing(void **state) {
        Fixture *f = *state;
        char *error = NULL;
        struct stat st;

        assert_int_equal(stat(f->dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(store_load(f->store, f->e, &error), 0);
        assert_null(error);
        assert_true(engine_is_empty(f->e));
}

static void test_round_trip(void **state) {
        Fixture *f = *state;
        _cleanup_(engine_freep) Engine *e2 = NULL;
        _cleanup_(store_freep) Store *other = NULL;
        _cleanup_(freep) char *text1 = NULL, *text2 = NULL, *error = NULL;
        char other_dir[128], other_path[160];
        size_t n1, n2;
        Sublayer *s;

        populate(f);
        assert_true(exists(f->path));

        assert_int_equal(engine_new(&e2), 0);
        /* P1; S1, S2; C1, C2; F1, F2, F3, F5 */
        assert_int_equal(store_load(f->store, e2, &error), 9);
        assert_null(error);
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
        assert_true(strncmp(text1, "bfed-state 1\n", 13) == 0);
        assert_non_null(strstr(text1, "name=tab%09here%2C%20newline%0Athere%2C%20100%25%20sure;%20Grüße%20=%20✓%20 "));
        assert_non_null(strstr(text1, "condition=IP_LOCAL_PORT,5,7000-7010"));
        assert_non_null(strstr(text1, "condition=IP_REMOTE_ADDRESS,0,10.0.0.0/8"));
        assert_non_null(strstr(text1, "condition=FLAGS,6,loopback"));
        assert_null(strstr(text1, "transient"));
        assert_null(strstr(text1, "IKE/AuthIP"));
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
        assert_int_equal(store_load(f->store, e2, NULL), 10);
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

/* A load that is refused: the error names file and line, the engine stays empty. */
static void assert_refused(Fixture *f, const char *expect_prefix, const char *expect_reason) {
        _cleanup_(freep) char *error = NULL, *check_error = NULL, *before = NULL, *after = NULL;
        size_t n_before = 0, n_after = 0;
        int r;

        if (exists(f->path))
                before = read_all(f->path, &n_before);
        r = store_load(f->store, f->e, &error);
        assert_true(r < 0);
        assert_non_null(error);
        if (strncmp(error, expect_prefix, strlen(expect_prefix)) != 0 || !strstr(error, expect_reason))
                fail_msg("error '%s', expected '%s…%s'", error, expect_prefix, expect_reason);
        assert_true(engine_is_empty(f->e));

        /* --check-state says the same */
        assert_int_equal(store_check_file(f->path, &check_error), r);
        assert_string_equal(error, check_error);

        /* the file is exactly as it was */
        after = read_all(f->path, &n_after);
        assert_int_equal(n_before, n_after);
        assert_memory_equal(before, after, n_before);
}

static void make_good_file(Fixture *f, char **ret_text, size_t *ret_size) {
        _cleanup_(engine_freep) Engine *keep = NULL;

        populate(f);
        /* start each refusal from an empty engine */
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

static void test_truncated_refused(void **state) {
        Fixture *f = *state;
        _cleanup_(freep) char *text = NULL;
        size_t size;

        make_good_file(f, &text, &size);
        /* every cut: 0, inside the header, at line ends, inside records, inside the end line */
        for (size_t cut = 0; cut < size; cut += cut < 40 ? 1 : 7) {
                char prefix[256];
                unsigned line = line_of(text, cut);

                write_all(f->path, text, cut);
                /* a cut right after a newline names that (complete) line: no end record after it */
                if (cut > 0 && text[cut - 1] == '\n' && cut > 13)
                        line--;
                snprintf(prefix, sizeof(prefix), "%s:%u: ", f->path, line);
                assert_refused(f, prefix, "truncated");
        }
        /* cut just before the final newline */
        write_all(f->path, text, size - 1);
        assert_refused(f, f->path, "truncated");
}

static void test_corrupt_refused(void **state) {
        Fixture *f = *state;
        _cleanup_(freep) char *text = NULL;
        char prefix[256];
        size_t size, at;

        make_good_file(f, &text, &size);
        snprintf(prefix, sizeof(prefix), "%s:%u: ", f->path, line_of(text, size - 1));

        /* a flipped bit in the middle of a record */
        at = (size_t) (strstr(text, "name=sub%20one") - text) + 5;
        text[at] ^= 0x01;
        write_all(f->path, text, size);
        assert_refused(f, prefix, "checksum mismatch");
        text[at] ^= 0x01;

        /* a changed digit in a number: still the checksum */
        at = (size_t) (strstr(text, "weight=4660") - text) + 7;
        text[at] = '5';
        write_all(f->path, text, size);
        assert_refused(f, prefix, "checksum mismatch");
        text[at] = '4';

        /* the end record itself */
        at = size - 3;
        text[at] = text[at] == '0' ? '1' : '0';
        write_all(f->path, text, size);
        assert_refused(f, prefix, "checksum mismatch");

        /* not a state file at all */
        write_all(f->path, "hello\nworld\n", 12);
        snprintf(prefix, sizeof(prefix), "%s:1: ", f->path);
        assert_refused(f, prefix, "not a bfed state file");
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
        write_state(f, 1, PROVIDER_LINE "filter key=" F1 " name=f flags=0x1 provider=" P1
                          " layer=INBOUND_TRANSPORT_V4 sublayer=" WFP_SUBLAYER_UNIVERSAL_GUID
                          " weight=auto action=block condition=IP_LOCAL_PORT,0,22\n");
        assert_int_equal(store_load(f->store, f->e, NULL), 2);
        assert_int_equal(engine_n_filters(f->e), 1);
}

static void test_newer_version_refused(void **state) {
        Fixture *f = *state;
        char prefix[256];

        snprintf(prefix, sizeof(prefix), "%s:1: ", f->path);
        write_state(f, 2, PROVIDER_LINE);
        assert_refused(f, prefix, "state version 2 is newer than this bfed (1)");
        write_state(f, 0, PROVIDER_LINE);
        assert_refused(f, prefix, "state version 0 is not valid");
}

static void test_bad_records_refused(void **state) {
        Fixture *f = *state;
        static const struct {
                const char *records;
                unsigned line;
                const char *reason;
        } cases[] = {
                /* references that do not resolve */
                { PROVIDER_LINE "filter key=" F1 " name=f flags=0x1 provider=" P2 " layer=INBOUND_TRANSPORT_V4 "
                  "sublayer=" WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block\n",
                  3, "filter 'f': FWP_E_PROVIDER_NOT_FOUND: no provider " P2 },
                { "sublayer key=" S1 " name=s flags=0x1 provider=" P1 " weight=3\n" PROVIDER_LINE,
                  2, "sublayer 's': FWP_E_PROVIDER_NOT_FOUND" },
                { "filter key=" F1 " name=f flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer=" S1 " weight=auto "
                  "action=block\n", 2, "FWP_E_SUBLAYER_NOT_FOUND" },
                { "filter key=" F1 " name=f flags=0x5 layer=IKEEXT_V4 sublayer=" WFP_SUBLAYER_UNIVERSAL_GUID
                  " weight=auto action=permit context=" C1 "\n", 2, "FWP_E_PROVIDER_CONTEXT_NOT_FOUND" },
                /* values the engine refuses */
                { PROVIDER_LINE PROVIDER_LINE, 3, "provider 'p': FWP_E_ALREADY_EXISTS" },
                { "filter key=" F1 " name=x flags=0x1 layer=FOO sublayer=" WFP_SUBLAYER_UNIVERSAL_GUID
                  " weight=auto action=block\n", 2, "filter 'x': FWP_E_LAYER_NOT_FOUND: no layer 'FOO'" },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=IP_LOCAL_PORT,5,9-1\n",
                  2, "filter 'x': FWP_E_INVALID_RANGE" },
                { "context key=" C1 " name=c flags=0x1 type=99\n", 2, "FWP_E_INVALID_ENUMERATOR" },
                /* malformed lines */
                { "provider key=" P1 " name=p\n", 2, "field 'flags' is missing" },
                { "provider key=" P1 " name=p flags=0x1 colour=blue\n", 2, "unknown field 'colour'" },
                { "provider key=" P1 " name=p name=q flags=0x1\n", 2, "field 'name' appears twice" },
                { "provider key=" P1 " name=p  flags=0x1\n", 2, "empty field" },
                { "provider key=" P1 " name=p flags=0x1 \n", 2, "empty field" },
                { "provider key=" P1 " name=p flags=1\n", 2, "field 'flags'" },
                { "provider key=nope name=p flags=0x1\n", 2, "'nope' is not a GUID" },
                { "provider key=" P1 " name=a%2 flags=0x1\n", 2, "bad escape" },
                { "provider key=" P1 " name=a%00b flags=0x1\n", 2, "NUL" },
                { "provider key=" P1 " name=a\tb flags=0x1\n", 2, "control character" },
                { "provider key=" P1 " name=p flags=0x1 data=abc\n", 2, "not hex" },
                { "provider key=" P1 " name=p flags=0x0\n", 2, "not marked persistent" },
                { "widget key=" P1 "\n", 2, "unknown record type 'widget'" },
                { PROVIDER_LINE "sublayer key=" S1 " name=s flags=0x1 weight=70000\n", 3, "field 'weight'" },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=heavy action=block\n", 2, "field 'weight'" },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=maybe\n", 2, "field 'action'" },
                { "filter key=" F1 " name=x flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer="
                  WFP_SUBLAYER_UNIVERSAL_GUID " weight=auto action=block condition=IP_LOCAL_PORT\n", 2,
                  "FIELD,MATCH,VALUE" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char prefix[256];

                write_state(f, 1, cases[i].records);
                snprintf(prefix, sizeof(prefix), "%s:%u: ", f->path, cases[i].line);
                assert_refused(f, prefix, cases[i].reason);
        }
}

static void test_count_mismatch_refused(void **state) {
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
        assert_refused(f, prefix, "file is truncated (expected 2 records, found 1)");
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

static void test_check_file(void **state) {
        Fixture *f = *state;
        _cleanup_(freep) char *error = NULL;
        char other[160];

        populate(f);
        assert_int_equal(store_check_file(f->path, &error), 9);
        assert_null(error);

        /* a missing file is an error when it is asked for by name */
        snprintf(other, sizeof(other), "%s/other", f->tmp);
        assert_int_equal(store_check_file(other, &error), -ENOENT);
        assert_non_null(error);
        assert_non_null(strstr(error, other));
        free(TAKE_PTR(error));

        /* an empty file is a truncated one */
        write_all(other, "", 0);
        assert_int_equal(store_check_file(other, &error), -EBADMSG);
        assert_non_null(strstr(error, ":1: file is truncated"));
}

static void test_engine_in_transaction_refused(void **state) {
        Fixture *f = *state;
        _cleanup_(freep) char *error = NULL;

        write_state(f, 1, PROVIDER_LINE);
        assert_int_equal(engine_begin(f->e), 0);
        assert_int_equal(store_load(f->store, f->e, &error), wfp_ret(FWP_E_TXN_IN_PROGRESS));
        assert_non_null(error);
        engine_abort(f->e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_missing_file_loads_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_filters_keep_order_of_addition, setup, teardown),
                cmocka_unit_test_setup_teardown(test_touch_persistent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_written_file_loads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_records_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_count_mismatch_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_discard_keeps_old_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_engine_in_transaction_refused, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
