/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine-internal.h — what engine.c (the four kinds alike: add, delete, lookups, commit, undo,
 * pins) and engine-kinds.c (each kind's own part) share. Not for the rest of bfed: engine.h is
 * the engine's interface.
 */
#pragma once

#include "engine.h"
#include "keymap.h"
#include "objmap.h"

#define JOURNAL_KEEP 4096

struct Engine {
        Provider *providers;
        Sublayer *sublayers;
        Sublayer *universal;            /* FWPM_SUBLAYER_UNIVERSAL, built in */
        ProviderContext *contexts;
        Filter *filters, *filters_tail;
        size_t n_filters;
        ObjMap filters_by_key, filters_by_id; /* every linked filter (filter_remember()) */
        size_t n_objects;

        uint64_t next_filter_id;
        uint64_t next_context_id;
        uint64_t next_seq;              /* sublayers' */

        unsigned n_mm_policies;         /* live IKEEXT filters with an MM context */
        bool exemptions_active;

        bool in_transaction;
        EngineCaller caller;            /* of the open transaction */
        Change *journal;
        size_t n_journal, n_journal_alloc; /* kept between transactions up to JOURNAL_KEEP entries */

        /* per kind: deleted objects an enumeration still pins (engine_pin()), freed with their
         * last pin */
        void *retired[_OBJECT_KIND_MAX];
};

/*
 * The members all four kinds have (ENGINE_OBJECT_MEMBERS in engine.h), their list links and the
 * provider they name, as pointers into one object. The links are typed per kind; object
 * pointers all have one representation and the tree is built with -fno-strict-aliasing, so the
 * list code below moves them as void *.
 */
typedef struct Head {
        BfeGuid *key;
        char **name;
        char **description;
        uint32_t *flags;
        Blob *provider_data;
        bool *builtin;
        bool *dynamic;
        uint64_t *session;
        unsigned *n_pins;
        bool *retired;
        void **prev, **next;
        Provider **provider;            /* the provider it names; NULL for a provider itself */
} Head;

#define HEAD(o, provider_)                                                                              \
        ((Head) { &(o)->key, &(o)->name, &(o)->description, &(o)->flags, &(o)->provider_data,               \
                  &(o)->builtin, &(o)->dynamic, &(o)->session, &(o)->n_pins, &(o)->retired,                     \
                  (void **) &(o)->prev, (void **) &(o)->next, (provider_) })

/* ---- engine.c: the four kinds alike ---------------------------------------------------------- */

Head head(ObjectKind kind, void *o);
Provider *provider_of(ObjectKind kind, void *o);
void **live_list(Engine *e, ObjectKind kind);
void list_prepend(void **list, ObjectKind kind, void *o);
void list_remove(void **list, ObjectKind kind, void *o);
void set_references(ObjectKind kind, void *o, void *const refs[static _OBJECT_KIND_MAX]);
int object_delete(Engine *e, ObjectKind kind, void *o, EngineError *err);
int blob_copy(const Blob *src, Blob *dst);    /* engine-kinds.c */
/* A new zeroed object of @kind, @size bytes (its struct and what follows it), and its name
 * (NULL: none) in the same allocation after them: a name is never freed on its own. */
void *object_alloc(ObjectKind kind, size_t size, const char *name);
void object_free(ObjectKind kind, void *o);     /* what object_alloc() gave, its name with it */
int check_blob(const char *what, const Blob *b, EngineError *err);

/* ---- engine-kinds.c: each kind's own part ----------------------------------------------------- */

/* The lifetime rules (doc/design.md §8): of a new object's flags, of what it references, of a delete. */
int check_new_flags(Engine *e, ObjectKind kind, uint32_t flags, EngineError *err);
int check_reference(Engine *e, ObjectKind kind, uint32_t flags, const BfeKey *provider_key,
                    ObjectKind ref_kind, void *ref, EngineError *err);
int check_delete(Engine *e, ObjectKind kind, void *o, EngineError *err);

/* Each kind's place in its lists: into them (an add, or an abort putting a deleted one back), out. */
void plain_link(Engine *e, ObjectKind kind, void *o);
void plain_unlink(Engine *e, ObjectKind kind, void *o);
void sublayer_link(Engine *e, ObjectKind kind, void *o);
void sublayer_unlink(Engine *e, ObjectKind kind, void *o);
void filter_link(Engine *e, ObjectKind kind, void *o);
void filter_unlink(Engine *e, ObjectKind kind, void *o);
/* filter-order.c: a filter into its sublayer's list of its layer, at its place in evaluation order,
 * and out of it; the sublayer's indexes of those lists freed; and (for the tests) whether a list
 * and its index agree: 0 or -EBADMSG. */
void filter_order_link(Filter *f);
void filter_order_unlink(Filter *f);
void sublayer_orders_done(Sublayer *s);
int filter_order_check(const Sublayer *s, WfpLayer layer, bool boot);
void filter_maps_init(Engine *e);               /* the engine's maps by key and id: empty */
int filter_remember(Engine *e, Filter *f);      /* in them */
void filter_forget(Engine *e, Filter *f);
void provider_ref(Provider *p);
void provider_unref(Provider *p);

/* An add: the kind's own fields checked before the object is made, and set on it after. */
int provider_check(Engine *e, const void *s, EngineError *err);
int sublayer_check(Engine *e, const void *s, EngineError *err);
int sublayer_fill(Engine *e, void *o, const void *s, const char *const *condition_texts, EngineError *err);
int context_check(Engine *e, const void *s, EngineError *err);
int context_fill(Engine *e, void *o, const void *s, const char *const *condition_texts, EngineError *err);
int filter_check(Engine *e, const void *s, EngineError *err);
int filter_fill(Engine *e, void *o, const void *s, const char *const *condition_texts, EngineError *err);
