/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine.c — the database and its transactions. See engine.h for the model.
 *
 * Objects live in doubly linked lists. A delete unlinks the object and journals it; it is
 * freed only when the transaction commits, so an abort can put it back and the nftables
 * compiler can still read the handle of the rule it must remove. An add links the object
 * and journals it; an abort unlinks and frees it. Undo runs the journal backwards and uses
 * only the plain link/unlink helpers, so it never re-triggers the exemption logic.
 *
 * The four kinds keep the same rules, so what is done to every kind alike — add, delete,
 * lookup, commit, undo, pins, freeing — is written once, on (kind, object). What differs
 * between the kinds is in a few places only: head() (where a kind keeps the members all four
 * have), kinds[] (its size and not-found error, its place in its list, and the checks and
 * fields of its own in an add, whose code is in engine-kinds.c), references() (what it names),
 * and check_builtin() and check_unused() (what may not be deleted).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "engine.h"
#include "engine-internal.h"
#include "exemptions.h"
#include "keymap.h"
#include "list.h"
#include "macro.h"
#include "utf8.h"

/* ---- small helpers ------------------------------------------------------------------------ */

static int strdup_opt(const char *s, char **ret) {
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int check_display(const char *kind, const char *name, const char *description, EngineError *err) {
        if (!name || !*name)
                return engine_error(err, FWP_E_NULL_DISPLAY_NAME, "a %s needs a name", kind);
        if (strlen(name) > ENGINE_NAME_MAX || (description && strlen(description) > ENGINE_NAME_MAX))
                return engine_error(err, FWP_E_INVALID_PARAMETER, "%s name or description longer than %d bytes",
                                    kind, ENGINE_NAME_MAX);
        /* Enum* sends them on the bus, and sd-bus refuses to send invalid UTF-8: one such name
         * would make every enumeration fail. D-Bus callers cannot send it, but the state file
         * and other callers can. */
        if (!utf8_is_valid(name))
                return engine_error(err, FWP_E_INVALID_PARAMETER, "%s name: bad Unicode (not valid UTF-8)", kind);
        if (description && !utf8_is_valid(description))
                return engine_error(err, FWP_E_INVALID_PARAMETER, "%s description: bad Unicode (not valid UTF-8)",
                                    kind);
        return 0;
}

int check_blob(const char *what, const Blob *b, EngineError *err) {
        if (b && b->size > ENGINE_DATA_MAX)
                return engine_error(err, FWP_E_INVALID_PARAMETER, "%s larger than %d bytes", what, ENGINE_DATA_MAX);
        return 0;
}

/* Reserve room first, so a journal entry can be written after a change without failing. */
static int journal_reserve(Engine *e, size_t n) {
        if (!ARRAY_RESERVE(e->journal, e->n_journal_alloc, e->n_journal + n, 16))
                return -ENOMEM;
        return 0;
}

/* The journal when a transaction ends: empty, and given back if a big transaction (the state
 * file's at start: one entry per object) grew it beyond what single calls need. */
static void journal_end(Engine *e) {
        e->n_journal = 0;
        if (e->n_journal_alloc > JOURNAL_KEEP) {
                e->journal = mfree(e->journal);
                e->n_journal_alloc = 0;
        }
        e->in_transaction = false;
}

/* Callers reserve first and ignore the result: with room reserved it cannot fail. */
static int journal_push(Engine *e, ChangeType type, ObjectKind kind, void *object) {
        int r;

        r = journal_reserve(e, 1);
        if (r < 0)
                return r;
        e->journal[e->n_journal++] = (Change) { .type = type, .kind = kind, .object = object };
        return 0;
}

/* The journal entries one change of @kind may need: a filter may bring or take the IKE/AuthIP
 * exemptions with it. */
static size_t journal_need(ObjectKind kind) {
        return kind == OBJECT_FILTER ? 1 + EXEMPTION_FILTERS_MAX : 1;
}

/* ---- the four kinds alike ----------------------------------------------------------------- */

Head head(ObjectKind kind, void *o) {
        switch (kind) {
        case OBJECT_PROVIDER:
                return HEAD((Provider *) o, NULL);
        case OBJECT_SUBLAYER:
                return HEAD((Sublayer *) o, &((Sublayer *) o)->provider);
        case OBJECT_PROVIDER_CONTEXT:
                return HEAD((ProviderContext *) o, &((ProviderContext *) o)->provider);
        case OBJECT_FILTER:
                return HEAD((Filter *) o, &((Filter *) o)->provider);
        case _OBJECT_KIND_MAX:
                break;
        }
        abort(); /* not a kind: the public entry points refuse those */
}

Provider *provider_of(ObjectKind kind, void *o) {
        Head h = head(kind, o);

        return h.provider ? *h.provider : NULL;
}

/* The engine's list of the live objects of @kind. */
void **live_list(Engine *e, ObjectKind kind) {
        switch (kind) {
        case OBJECT_PROVIDER:
                return (void **) &e->providers;
        case OBJECT_SUBLAYER:
                return (void **) &e->sublayers;
        case OBJECT_PROVIDER_CONTEXT:
                return (void **) &e->contexts;
        case OBJECT_FILTER:
                return (void **) &e->filters;
        case _OBJECT_KIND_MAX:
                break;
        }
        abort();
}

/* LIST_PREPEND() and LIST_REMOVE() of list.h, for an object of any kind. */
void list_prepend(void **list, ObjectKind kind, void *o) {
        Head h = head(kind, o);

        *h.prev = NULL;
        *h.next = *list;
        if (*list)
                *head(kind, *list).prev = o;
        *list = o;
}

void list_remove(void **list, ObjectKind kind, void *o) {
        Head h = head(kind, o);

        if (*h.prev)
                *head(kind, *h.prev).next = *h.next;
        else
                *list = *h.next;
        if (*h.next)
                *head(kind, *h.next).prev = *h.prev;
        *h.prev = *h.next = NULL;
}

/* Frees an object that no list holds any more. */
static void object_destroy(ObjectKind kind, void *o) {
        Head h;

        if (!o)
                return;
        h = head(kind, o);
        if (kind == OBJECT_PROVIDER_CONTEXT)
                free(((ProviderContext *) o)->data.data);
        if (kind == OBJECT_SUBLAYER)
                sublayer_orders_done(o);
        if (kind == OBJECT_FILTER) {
                Filter *f = o;

                for (size_t i = 0; i < f->n_conditions; i++)
                        condition_done(&f->conditions[i]);
        }
        free_many(*h.description, h.provider_data->data); /* the name is in the object (object_alloc()) */
        object_free(kind, o);
}

void filter_destroy(Filter *f) {
        object_destroy(OBJECT_FILTER, f);
}

static void destroy_all(ObjectKind kind, void *list) {
        for (void *o = list, *next; o; o = next) {
                next = *head(kind, o).next;
                object_destroy(kind, o);
        }
}

/* The objects @o references, by kind (NULL: none of that kind): what a pin of it holds too ... */
static void references(ObjectKind kind, void *o, void *ret[static _OBJECT_KIND_MAX]) {
        for (ObjectKind k = 0; k < _OBJECT_KIND_MAX; k++)
                ret[k] = NULL;
        ret[OBJECT_PROVIDER] = provider_of(kind, o);
        if (kind == OBJECT_FILTER) {
                ret[OBJECT_SUBLAYER] = ((Filter *) o)->sublayer;
                ret[OBJECT_PROVIDER_CONTEXT] = ((Filter *) o)->context;
        }
}

/* ... and set on a new one. */
void set_references(ObjectKind kind, void *o, void *const refs[static _OBJECT_KIND_MAX]) {
        Head h = head(kind, o);

        if (h.provider)
                *h.provider = refs[OBJECT_PROVIDER];
        if (kind == OBJECT_FILTER) {
                ((Filter *) o)->sublayer = refs[OBJECT_SUBLAYER];
                ((Filter *) o)->context = refs[OBJECT_PROVIDER_CONTEXT];
        }
}

/* ---- engine lifecycle --------------------------------------------------------------------- */

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;
        if (e->in_transaction)
                engine_abort(e);
        for (ObjectKind k = 0; k < _OBJECT_KIND_MAX; k++) {
                destroy_all(k, *live_list(e, k));
                /* pinned by enumerations that outlive the engine: nobody reads them any more */
                destroy_all(k, e->retired[k]);
        }
        objmap_done(&e->filters_by_key);
        objmap_done(&e->filters_by_id);
        free(e->journal);
        free(e);
        return NULL;
}


/* The built-in objects of @kind (providers, sublayers), from wfp.c's table. */
static int add_builtins(Engine *e, ObjectKind kind) {
        const WfpBuiltin *b;
        size_t n;

        b = kind == OBJECT_PROVIDER ? wfp_builtin_providers(&n) : wfp_builtin_sublayers(&n);
        for (size_t i = 0; i < n; i++) {
                void *o = object_alloc(kind, kind == OBJECT_PROVIDER ? sizeof(Provider) : sizeof(Sublayer), b[i].name);
                Head h;

                if (!o)
                        return -ENOMEM;
                h = head(kind, o);
                *h.builtin = true;
                (void) guid_from_string(b[i].guid, h.key);
                *h.description = strdup(b[i].description);
                if (!*h.description) {
                        object_destroy(kind, o);
                        return -ENOMEM;
                }
                if (kind == OBJECT_SUBLAYER) {
                        Sublayer *s = o;

                        s->weight = b[i].weight;
                        s->seq = e->next_seq++;
                        s->engine = e;
                        if (streq(b[i].guid, WFP_SUBLAYER_UNIVERSAL_GUID))
                                e->universal = s;
                        sublayer_link(e, kind, s);
                } else
                        plain_link(e, kind, o);
        }
        return 0;
}

int engine_new(Engine **ret) {
        _cleanup_(engine_freep) Engine *e = NULL;
        int r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->next_filter_id = 1;
        e->next_context_id = 1;
        e->next_seq = 1;
        filter_maps_init(e);

        r = add_builtins(e, OBJECT_PROVIDER);
        if (r >= 0)
                r = add_builtins(e, OBJECT_SUBLAYER);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(e);
        return 0;
}

/* ---- transactions ---------------------------------------------------------------------- */

int engine_begin_as(Engine *e, const EngineCaller *caller) {
        if (e->in_transaction)
                return wfp_ret(FWP_E_TXN_IN_PROGRESS);
        e->in_transaction = true;
        e->caller = *caller;
        e->n_journal = 0;
        return 0;
}

int engine_begin(Engine *e) {
        return engine_begin_as(e, &(EngineCaller) {});
}

void engine_set_caller(Engine *e, const EngineCaller *caller) {
        if (e->in_transaction)
                e->caller = *caller;
}

bool engine_in_transaction(const Engine *e) {
        return e->in_transaction;
}

const Change *engine_changes(const Engine *e, size_t *ret_n) {
        *ret_n = e->n_journal;
        return e->journal;
}

/* ---- what differs between the kinds --------------------------------------------------------- */

typedef struct KindOps {
        size_t size;                    /* of the kind's struct */
        uint32_t not_found;             /* the WFP error for a key that names none */
        /* its place in its list: into it (an add, or an abort putting a deleted one back), out of it */
        void (*link)(Engine *e, ObjectKind kind, void *o);
        void (*unlink)(Engine *e, ObjectKind kind, void *o);
        /* an add: the kind's own fields, checked before the object is made (its flags among them) ... */
        int (*check)(Engine *e, const void *spec, EngineError *err);
        /* ... and set on the new object, which has the members all kinds have already (NULL: none) */
        int (*fill)(Engine *e, void *o, const void *spec, const char *const *condition_texts, EngineError *err);
} KindOps;

static const KindOps kinds[_OBJECT_KIND_MAX] = {
        [OBJECT_PROVIDER] = { .size = sizeof(Provider), .not_found = FWP_E_PROVIDER_NOT_FOUND,
                              .link = plain_link, .unlink = plain_unlink, .check = provider_check },
        [OBJECT_SUBLAYER] = { .size = sizeof(Sublayer), .not_found = FWP_E_SUBLAYER_NOT_FOUND,
                              .link = sublayer_link, .unlink = sublayer_unlink,
                              .check = sublayer_check, .fill = sublayer_fill },
        [OBJECT_PROVIDER_CONTEXT] = { .size = sizeof(ProviderContext), .not_found = FWP_E_PROVIDER_CONTEXT_NOT_FOUND,
                                      .link = plain_link, .unlink = plain_unlink,
                                      .check = context_check, .fill = context_fill },
        [OBJECT_FILTER] = { .size = sizeof(Filter), .not_found = FWP_E_FILTER_NOT_FOUND,
                            .link = filter_link, .unlink = filter_unlink,
                            .check = filter_check, .fill = filter_fill },
};

/* ---- lookups ------------------------------------------------------------------------------ */

Filter *engine_get_filter_by_key(const Engine *e, const BfeGuid *key) {
        Filter *f = objmap_get(&e->filters_by_key, key->b);

        return f && f->live ? f : NULL;
}

Filter *engine_get_filter_by_id(const Engine *e, uint64_t id) {
        uint8_t key[16];
        Filter *f;

        keymap_id_key(id, key);
        f = objmap_get(&e->filters_by_id, key);
        return f && f->live ? f : NULL;
}

/* The live object of @kind with @key, or NULL. Filters are many: they have a key map; the other
 * kinds are few. */
static void *object_find(const Engine *e, ObjectKind kind, const BfeGuid *key) {
        if (kind == OBJECT_FILTER)
                return engine_get_filter_by_key(e, key);
        for (void *o = *live_list((Engine *) e, kind); o;) {
                Head h = head(kind, o);

                if (guid_equal(h.key, key))
                        return o;
                o = *h.next;
        }
        return NULL;
}

int engine_get_object(const Engine *e, ObjectKind kind, const BfeKey *key, EngineError *err, void **ret) {
        void *o;

        if ((unsigned) kind >= _OBJECT_KIND_MAX)
                return -EINVAL;
        o = object_find(e, kind, key);
        if (!o)
                return engine_error(err, kinds[kind].not_found, "no %s %s", object_info(kind)->text, guid_str(key));
        *ret = o;
        return 0;
}

const BfeKey *engine_object_key(ObjectKind kind, const void *object) {
        if ((unsigned) kind >= _OBJECT_KIND_MAX)
                return NULL;
        return head(kind, (void *) object).key;
}

/* A kind's list and its lookup by key: engine_providers() and engine_get_provider(), … */
#define DEFINE_KIND_ACCESSORS(Type, list, get, field, kind)                     \
        Type *engine_##list(const Engine *e) {                                  \
                return e->field;                                                \
        }                                                                       \
        Type *engine_get_##get(const Engine *e, const BfeGuid *key) {           \
                return object_find(e, kind, key);                               \
        }

DEFINE_KIND_ACCESSORS(Provider, providers, provider, providers, OBJECT_PROVIDER);
DEFINE_KIND_ACCESSORS(ProviderContext, provider_contexts, provider_context, contexts, OBJECT_PROVIDER_CONTEXT);
DEFINE_KIND_ACCESSORS(Sublayer, sublayers, sublayer, sublayers, OBJECT_SUBLAYER);

Sublayer *engine_universal_sublayer(const Engine *e) {
        return e->universal;
}

bool sublayer_is_universal(const Sublayer *s) {
        return s->engine->universal == s;
}

Filter *engine_filters(const Engine *e) {
        return e->filters;
}

size_t engine_n_filters(const Engine *e) {
        return e->n_filters;
}

size_t engine_layer_filters(const Engine *e, WfpLayer layer, Filter **buf, size_t n) {
        size_t k = 0;

        for (Sublayer *s = e->sublayers; s; s = s->next)
                for (Filter *f = s->filters_head[layer]; f; f = f->lnext) {
                        if (k < n)
                                buf[k] = f;
                        k++;
                }
        return k;
}

bool engine_exemptions_active(const Engine *e) {
        return e->exemptions_active;
}

/* ---- into the database and out of it ---------------------------------------------------- */

/* Into the database (an add, or an abort putting a deleted object back), and out of it. What
 * names a provider counts as a reference to it. */
static void object_link(Engine *e, ObjectKind kind, void *o) {
        kinds[kind].link(e, kind, o);
        provider_ref(provider_of(kind, o));
}

static void object_unlink(Engine *e, ObjectKind kind, void *o) {
        kinds[kind].unlink(e, kind, o);
        provider_unref(provider_of(kind, o));
}

/* Link a new object and journal it (the journal has room: callers reserve it). Its numbers are
 * given here, so that only what goes in uses one up: the ids of contexts and filters, and the
 * order of addition of sublayers (seq) and filters (their ids), which breaks ties of weight. The
 * exemptions come in this way too. */
static int object_insert(Engine *e, ObjectKind kind, void *o) {
        if (kind == OBJECT_PROVIDER_CONTEXT)
                ((ProviderContext *) o)->id = e->next_context_id++;
        if (kind == OBJECT_SUBLAYER)
                ((Sublayer *) o)->seq = e->next_seq++;
        if (kind == OBJECT_FILTER) {
                Filter *f = o;
                int r;

                f->id = e->next_filter_id++;
                r = filter_remember(e, f);
                if (r < 0)
                        return r;
        }
        object_link(e, kind, o);
        e->n_objects++;
        (void) journal_push(e, CHANGE_ADD, kind, o);
        return 0;
}

static void object_remove(Engine *e, ObjectKind kind, void *o) {
        object_unlink(e, kind, o);
        e->n_objects--;
        (void) journal_push(e, CHANGE_DELETE, kind, o);
}

/* ---- commit and undo --------------------------------------------------------------------- */

/* An object out of the database for good: freed, or kept for the enumerations that pin it
 * (they free it with their last pin). */
static void object_retire(Engine *e, ObjectKind kind, void *o) {
        Head h = head(kind, o);

        if (*h.n_pins > 0) {
                *h.retired = true;
                list_prepend(&e->retired[kind], kind, o);
        } else
                object_destroy(kind, o);
}

/* Retire what the transaction deleted; keep what it added. */
void engine_commit(Engine *e) {
        for (size_t i = 0; i < e->n_journal; i++) {
                Change *c = &e->journal[i];

                if (c->type != CHANGE_DELETE)
                        continue;
                if (c->kind == OBJECT_FILTER)
                        filter_forget(e, c->object);
                object_retire(e, c->kind, c->object);
        }
        journal_end(e);
}

/* Run the journal backwards to @mark. An added object is unlinked and retired (the
 * transaction's own enumerations may pin it); a deleted one relinked. */
static void undo_to(Engine *e, size_t mark) {
        while (e->n_journal > mark) {
                Change *c = &e->journal[--e->n_journal];

                if (c->type == CHANGE_ADD) {
                        object_unlink(e, c->kind, c->object);
                        if (c->kind == OBJECT_FILTER)
                                filter_forget(e, c->object);
                        object_retire(e, c->kind, c->object);
                        e->n_objects--;
                } else {
                        object_link(e, c->kind, c->object);
                        /* back in the key map if the transaction re-added its key; that
                         * needs no memory unless the map must grow, which it rarely does */
                        if (c->kind == OBJECT_FILTER)
                                (void) filter_remember(e, c->object);
                        e->n_objects++;
                }
        }
        /* the exemptions exist exactly while an MM policy does, at every transaction boundary */
        e->exemptions_active = e->n_mm_policies > 0;
}

size_t engine_savepoint(const Engine *e) {
        return e->n_journal;
}

void engine_rollback_to(Engine *e, size_t savepoint) {
        if (savepoint <= e->n_journal)
                undo_to(e, savepoint);
}

void engine_abort(Engine *e) {
        undo_to(e, 0);
        journal_end(e);
}

/* ---- pins: enumerations are snapshots ----------------------------------------------------- */

void engine_pin(Engine *e, ObjectKind kind, void *object) {
        void *refs[_OBJECT_KIND_MAX];

        if (!object)
                return;
        (*head(kind, object).n_pins)++;
        references(kind, object, refs);
        for (ObjectKind k = 0; k < _OBJECT_KIND_MAX; k++)
                engine_pin(e, k, refs[k]);
}

void engine_unpin(Engine *e, ObjectKind kind, void *object) {
        void *refs[_OBJECT_KIND_MAX];
        Head h;

        if (!object)
                return;
        h = head(kind, object);
        references(kind, object, refs); /* before it may be freed */
        if (--*h.n_pins == 0 && *h.retired) {
                list_remove(&e->retired[kind], kind, object);
                object_destroy(kind, object);
        }
        for (ObjectKind k = 0; k < _OBJECT_KIND_MAX; k++)
                engine_unpin(e, k, refs[k]);
}

/* ---- the IKE/AuthIP exemptions ------------------------------------------------------------ */

/* Add or remove the exemption set when the count of MM policies crosses zero. */
static int update_exemptions(Engine *e) {
        bool want = e->n_mm_policies > 0;
        int r;

        if (want == e->exemptions_active)
                return 0;
        r = journal_reserve(e, EXEMPTION_FILTERS_MAX);
        if (r < 0)
                return r;

        if (want) {
                Filter *set[EXEMPTION_FILTERS_MAX];
                size_t n;

                r = exemptions_build(e, set, &n);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++) {
                        if (r >= 0)
                                r = object_insert(e, OBJECT_FILTER, set[i]);
                        /* not inserted: ours; the inserted ones go with the caller's undo */
                        if (r < 0)
                                filter_destroy(set[i]);
                }
                if (r < 0)
                        return r;
        } else {
                BfeGuid keys[EXEMPTION_FILTERS_MAX];
                size_t n;

                /* by key, not by a walk over every filter */
                exemptions_keys(keys, &n);
                for (size_t i = 0; i < n; i++) {
                        Filter *f = engine_get_filter_by_key(e, &keys[i]);
                        if (f && f->engine_owned)
                                object_remove(e, OBJECT_FILTER, f);
                }
        }
        e->exemptions_active = want;
        return 0;
}

/* ---- adding -------------------------------------------------------------------------------- */

static int key_or_generate(const BfeGuid *in, BfeGuid *out) {
        if (!guid_is_null(in)) {
                *out = *in;
                return 0;
        }
        return guid_generate(out);
}

/* Every change needs a transaction (a programming error otherwise) and a journal slot. */
static int check_txn(Engine *e) {
        if (!e->in_transaction)
                return -EBADE;
        return journal_reserve(e, 1);
}

static int check_capacity(Engine *e, ObjectKind kind, EngineError *err) {
        if (!e->in_transaction)
                return -EBADE;
        if (e->n_objects >= ENGINE_OBJECTS_MAX)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "the engine holds %d objects already",
                                    ENGINE_OBJECTS_MAX);
        return journal_reserve(e, journal_need(kind));
}

/* The object of @ref_kind that a new @kind object with @flags names by @key (none for a zero
 * key), if it exists and may be referenced. */
static int resolve_reference(Engine *e, ObjectKind kind, uint32_t flags, const BfeKey *provider_key,
                             ObjectKind ref_kind, const BfeGuid *key, EngineError *err, void **ret) {
        void *ref = NULL;
        int r;

        if (!guid_is_null(key)) {
                r = engine_get_object(e, ref_kind, key, err, &ref);
                if (r < 0)
                        return r;
                r = check_reference(e, kind, flags, provider_key, ref_kind, ref, err);
                if (r < 0)
                        return r;
        }
        *ret = ref;
        return 0;
}

/* The members all four kinds' add specs (their public structs) have, under the same names. */
typedef struct SpecHead {
        const BfeKey *key;
        const char *name;
        const char *description;
        uint32_t flags;
        const Blob *provider_data;
        const BfeKey *refs[_OBJECT_KIND_MAX]; /* the keys of the objects it names, by kind; NULL: none */
        size_t extra;                   /* bytes after the struct: a filter's conditions */
} SpecHead;

#define SPEC_HEAD(s, provider_key_)                                                                     \
        ((SpecHead) { .key = &(s)->key, .name = (s)->name, .description = (s)->description,             \
                      .flags = (s)->flags, .provider_data = &(s)->provider_data,                         \
                      .refs[OBJECT_PROVIDER] = (provider_key_) })

static SpecHead spec_head(ObjectKind kind, const void *spec) {
        const FilterSpec *f = spec;
        SpecHead s;

        switch (kind) {
        case OBJECT_PROVIDER:
                return SPEC_HEAD((const ProviderSpec *) spec, NULL);
        case OBJECT_SUBLAYER:
                return SPEC_HEAD((const SublayerSpec *) spec, &((const SublayerSpec *) spec)->provider_key);
        case OBJECT_PROVIDER_CONTEXT:
                return SPEC_HEAD((const ProviderContextSpec *) spec,
                                 &((const ProviderContextSpec *) spec)->provider_key);
        case OBJECT_FILTER:
                s = SPEC_HEAD(f, &f->provider_key);
                s.refs[OBJECT_SUBLAYER] = &f->sublayer_key;
                s.refs[OBJECT_PROVIDER_CONTEXT] = &f->provider_context_key;
                /* filter_check() refuses more than ENGINE_CONDITIONS_MAX before object_new() */
                s.extra = (f->n_conditions <= ENGINE_CONDITIONS_MAX ? f->n_conditions : 0) * sizeof(Condition);
                return s;
        case _OBJECT_KIND_MAX:
                break;
        }
        abort();
}

/* A new object of @kind with the members all kinds have: from @spec, the caller's session, and
 * @refs, the objects it names (counted as referenced once it is linked). */
static int object_new(Engine *e, ObjectKind kind, const SpecHead *spec, void *const refs[static _OBJECT_KIND_MAX],
                      void **ret) {
        void *o;
        Head h;
        int r;

        o = object_alloc(kind, kinds[kind].size + spec->extra, spec->name);
        if (!o)
                return -ENOMEM;
        h = head(kind, o);
        *h.flags = spec->flags;
        *h.dynamic = e->caller.dynamic;
        *h.session = e->caller.dynamic ? e->caller.session : 0;
        set_references(kind, o, refs);
        r = key_or_generate(spec->key, h.key);
        if (r >= 0 && (strdup_opt(spec->description, h.description) < 0 ||
                       blob_copy(spec->provider_data, h.provider_data) < 0))
                r = -ENOMEM;
        if (r < 0) {
                object_destroy(kind, o);
                return r;
        }
        *ret = o;
        return 0;
}

/*
 * Adds an object of any kind, @spec being its public struct. The checks come in this order: room
 * in the engine, the name, description and provider data, the kind's own fields, a free key, the
 * lifetime rules, and what it names (provider, sublayer, context): each must exist and may not
 * die sooner. Then the kind fills in its own fields, which it may still refuse (a filter's
 * conditions), and the object goes into the database.
 */
static int object_add(Engine *e, ObjectKind kind, const void *spec, const char *const *condition_texts,
                      EngineError *err, void **ret) {
        SpecHead s = spec_head(kind, spec);
        const char *what = object_info(kind)->text;
        size_t mark = e->n_journal;
        void *o, *refs[_OBJECT_KIND_MAX];
        int r;

        r = check_capacity(e, kind, err);
        if (r < 0)
                return r;
        r = check_display(what, s.name, s.description, err);
        if (r < 0)
                return r;
        r = check_blob("provider data", s.provider_data, err);
        if (r < 0)
                return r;
        r = kinds[kind].check(e, spec, err);
        if (r < 0)
                return r;
        if (!guid_is_null(s.key) && object_find(e, kind, s.key))
                return engine_error(err, FWP_E_ALREADY_EXISTS, "%s %s exists already", what, guid_str(s.key));
        r = check_new_flags(e, kind, s.flags, err);
        if (r < 0)
                return r;
        for (ObjectKind k = 0; k < _OBJECT_KIND_MAX; k++) {
                r = resolve_reference(e, kind, s.flags, s.refs[OBJECT_PROVIDER], k, s.refs[k], err, &refs[k]);
                if (r < 0)
                        return r;
        }

        r = object_new(e, kind, &s, refs, &o);
        if (r < 0)
                return r;
        r = kinds[kind].fill ? kinds[kind].fill(e, o, spec, condition_texts, err) : 0;
        if (r >= 0)
                r = object_insert(e, kind, o);
        if (r < 0) {
                object_destroy(kind, o);
                return r;
        }
        if (kind == OBJECT_FILTER) {
                r = update_exemptions(e);
                if (r < 0) {
                        /* a call that fails changes nothing: undo this filter and any exemptions */
                        undo_to(e, mark);
                        return r;
                }
        }
        if (ret)
                *ret = o;
        return 0;
}

int engine_add_object(Engine *e, ObjectKind kind, const void *spec, EngineError *err, void **ret) {
        if ((unsigned) kind >= _OBJECT_KIND_MAX)
                return -EINVAL;
        return object_add(e, kind, spec, NULL, err, ret);
}

int engine_add_provider(Engine *e, const ProviderSpec *spec, EngineError *err, Provider **ret) {
        return object_add(e, OBJECT_PROVIDER, spec, NULL, err, (void **) ret);
}

int engine_add_sublayer(Engine *e, const SublayerSpec *spec, EngineError *err, Sublayer **ret) {
        return object_add(e, OBJECT_SUBLAYER, spec, NULL, err, (void **) ret);
}

int engine_add_provider_context(Engine *e, const ProviderContextSpec *spec, EngineError *err,
                                ProviderContext **ret) {
        return object_add(e, OBJECT_PROVIDER_CONTEXT, spec, NULL, err, (void **) ret);
}

int engine_add_filter(Engine *e, const FilterSpec *spec, EngineError *err, Filter **ret) {
        return object_add(e, OBJECT_FILTER, spec, NULL, err, (void **) ret);
}

int engine_add_filter_texts(Engine *e, const FilterSpec *spec, const char *const *condition_texts, EngineError *err,
                            Filter **ret) {
        return object_add(e, OBJECT_FILTER, spec, condition_texts, err, (void **) ret);
}

/* ---- deleting ----------------------------------------------------------------------------- */

/* What the engine made itself stays: the built-in providers and sublayers, and the IKE/AuthIP
 * exemptions. */
static int check_builtin(ObjectKind kind, void *o, EngineError *err) {
        Head h = head(kind, o);

        if (*h.builtin)
                return engine_error(err, FWP_E_BUILTIN_OBJECT, "%s %s (%s) is built in", object_info(kind)->text,
                                    guid_str(h.key), *h.name);
        if (kind == OBJECT_FILTER && ((Filter *) o)->engine_owned)
                return engine_error(err, FWP_E_BUILTIN_OBJECT,
                                    "filter %" PRIu64 " is an IKE/AuthIP exemption owned by the engine; "
                                    "it goes away with the last main-mode policy filter", ((Filter *) o)->id);
        return 0;
}

/* Nothing referenced can be deleted; each kind says what references it. */
static int check_unused(Engine *e, ObjectKind kind, void *o, EngineError *err) {
        const Provider *p = o;
        const Sublayer *s = o;
        const ProviderContext *c = o;

        if (kind == OBJECT_PROVIDER && p->n_refs > 0)
                return engine_error(err, FWP_E_IN_USE, "provider %s is referenced by %u object%s",
                                    guid_str(&p->key), p->n_refs, p->n_refs == 1 ? "" : "s");
        if (kind == OBJECT_SUBLAYER && s->n_refs > 0)
                return engine_error(err, FWP_E_IN_USE, "sublayer %s holds %u filter%s", guid_str(&s->key), s->n_refs,
                                    s->n_refs == 1 ? "" : "s");
        if (kind == OBJECT_PROVIDER_CONTEXT && c->n_refs > 0) {
                uint64_t by = 0;

                for (Filter *f = e->filters; f; f = f->next)
                        if (f->context == c) {
                                by = f->id;
                                break;
                        }
                return engine_error(err, FWP_E_IN_USE, "provider context %s is referenced by filter %" PRIu64,
                                    guid_str(&c->key), by);
        }
        return 0;
}

/* Deletes @o, in the open transaction (check_txn() passed): the rules every kind's delete
 * keeps, in this order. */
int object_delete(Engine *e, ObjectKind kind, void *o, EngineError *err) {
        int r;

        r = check_builtin(kind, o, err);
        if (r < 0)
                return r;
        r = check_delete(e, kind, o, err);
        if (r < 0)
                return r;
        r = check_unused(e, kind, o, err);
        if (r < 0)
                return r;
        r = journal_reserve(e, journal_need(kind));
        if (r < 0)
                return r;
        object_remove(e, kind, o);
        if (kind == OBJECT_FILTER)
                return update_exemptions(e); /* removal needs no memory: cannot fail */
        return 0;
}

int engine_delete_object(Engine *e, ObjectKind kind, const BfeKey *key, EngineError *err) {
        void *o;
        int r;

        if ((unsigned) kind >= _OBJECT_KIND_MAX)
                return -EINVAL;
        r = check_txn(e);
        if (r < 0)
                return r;
        r = engine_get_object(e, kind, key, err, &o);
        if (r < 0)
                return r;
        return object_delete(e, kind, o, err);
}

int engine_delete_provider(Engine *e, const BfeGuid *key, EngineError *err) {
        return engine_delete_object(e, OBJECT_PROVIDER, key, err);
}

int engine_delete_sublayer(Engine *e, const BfeGuid *key, EngineError *err) {
        return engine_delete_object(e, OBJECT_SUBLAYER, key, err);
}

int engine_delete_provider_context(Engine *e, const BfeGuid *key, EngineError *err) {
        return engine_delete_object(e, OBJECT_PROVIDER_CONTEXT, key, err);
}

int engine_delete_filter_by_key(Engine *e, const BfeGuid *key, EngineError *err) {
        return engine_delete_object(e, OBJECT_FILTER, key, err);
}

int engine_get_object_by_id(const Engine *e, ObjectKind kind, uint64_t id, EngineError *err, void **ret) {
        void *o = NULL;

        if (kind == OBJECT_FILTER)
                o = engine_get_filter_by_id(e, id);
        else if (kind == OBJECT_PROVIDER_CONTEXT) {
                /* contexts are few: no map */
                for (ProviderContext *c = e->contexts; c && !o; c = c->next)
                        if (c->id == id)
                                o = c;
        } else
                return -EINVAL;
        if (!o)
                return engine_error(err, kinds[kind].not_found, "no %s with id %" PRIu64, object_info(kind)->text, id);
        *ret = o;
        return 0;
}

int engine_delete_object_by_id(Engine *e, ObjectKind kind, uint64_t id, EngineError *err) {
        void *o;
        int r;

        r = engine_get_object_by_id(e, kind, id, err, &o);
        if (r < 0)
                return r;
        return engine_delete_object(e, kind, engine_object_key(kind, o), err);
}

int engine_delete_filter_by_id(Engine *e, uint64_t id, EngineError *err) {
        return engine_delete_object_by_id(e, OBJECT_FILTER, id, err);
}

int engine_delete_session_objects(Engine *e, uint64_t session) {
        /* what references others first: nothing referenced can be deleted */
        static const ObjectKind order[] = {
                OBJECT_FILTER, OBJECT_PROVIDER_CONTEXT, OBJECT_SUBLAYER, OBJECT_PROVIDER,
        };
        EngineCaller saved = e->caller;
        int r = 0;

        if (!e->in_transaction)
                return -EBADE;
        /* as the session itself, so the delete rules hold */
        e->caller = (EngineCaller) { .session = session, .dynamic = true };
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(order); i++) {
                ObjectKind kind = order[i];

                for (void *o = *live_list(e, kind), *next; r >= 0 && o; o = next) {
                        Head h = head(kind, o);

                        next = *h.next;
                        /* the exemptions may go with an MM policy filter: never step onto one */
                        while (kind == OBJECT_FILTER && next && ((Filter *) next)->engine_owned)
                                next = ((Filter *) next)->next;
                        if (*h.dynamic && *h.session == session) {
                                r = check_txn(e);
                                if (r >= 0)
                                        r = object_delete(e, kind, o, NULL);
                        }
                }
        }
        e->caller = saved;
        return r;
}
