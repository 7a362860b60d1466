/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine-kinds.c — what each of the four kinds does of its own in the database (engine.c does
 * what all do alike): the lifetime rules of references (doc/design.md §8), each kind's place in
 * its lists (a filter's in its sublayer's evaluation order, the exemption count), and the
 * kind's own checks and fields in an add.
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
#include "pool.h"
#include "utf8.h"

void *object_alloc(ObjectKind kind, size_t size, const char *name) {
        size_t n = name ? strlen(name) + 1 : 0;
        void *o;

        if (kind != OBJECT_FILTER)
                o = calloc(1, size + n);
        else if (size + n > UINT32_MAX)
                return NULL;
        else {
                /* filters are many: in the pool's blocks (pool.c) */
                o = pool_alloc0(size + n);
                if (o)
                        ((Filter *) o)->alloc_size = (uint32_t) (size + n);
        }
        if (o && name)
                *head(kind, o).name = memcpy((char *) o + size, name, n);
        return o;
}

void object_free(ObjectKind kind, void *o) {
        if (kind == OBJECT_FILTER && o)
                pool_free(o, ((Filter *) o)->alloc_size);
        else
                free(o);
}

int blob_copy(const Blob *src, Blob *dst) {
        *dst = (Blob) {};
        if (!src || src->size == 0)
                return 0;
        dst->data = malloc(src->size);
        if (!dst->data)
                return -ENOMEM;
        memcpy(dst->data, src->data, src->size);
        dst->size = src->size;
        return 0;
}

/* ---- lifetimes (doc/design.md §8) ---------------------------------------------------------------
 *
 * An object lives as long as its kind says: dynamic (until its session closes), static (until
 * deleted or the daemon stops), persistent (until deleted, across restarts), built-in
 * (always). None may reference an object that can die sooner, and a dynamic session may
 * delete only its own objects.
 */

typedef enum LifetimeKind {
        LIFETIME_BUILTIN,
        LIFETIME_PERSISTENT,
        LIFETIME_STATIC,
        LIFETIME_DYNAMIC,
} LifetimeKind;

static LifetimeKind lifetime_of(bool builtin, bool dynamic, uint32_t flags) {
        if (builtin)
                return LIFETIME_BUILTIN;
        if (dynamic)
                return LIFETIME_DYNAMIC;
        return flags & WFP_FLAG_PERSISTENT ? LIFETIME_PERSISTENT : LIFETIME_STATIC;
}

/* A boot-time filter is stored as a persistent one is, and must load again at every start: it
 * lives (and references) as a persistent object (doc/org.bfed.Engine1.md "Boot-time filters"). */
static uint32_t lifetime_flags(ObjectKind kind, uint32_t flags) {
        if (kind == OBJECT_FILTER && (flags & WFP_FILTER_FLAG_BOOTTIME))
                return flags | WFP_FLAG_PERSISTENT;
        return flags;
}

static const char *lifetime_name(LifetimeKind k) {
        static const char *const names[] = { "built-in", "persistent", "static", "dynamic" };
        return names[k];
}

/* A new object of @kind, of the caller, with @flags and provider @provider_key (NULL or zero: none)
 * may reference @ref, of @ref_kind. */
int check_reference(Engine *e, ObjectKind kind, uint32_t flags, const BfeKey *provider_key,
                           ObjectKind ref_kind, void *ref, EngineError *err) {
        Head h = head(ref_kind, ref);
        LifetimeKind mine = lifetime_of(false, e->caller.dynamic, lifetime_flags(kind, flags));
        LifetimeKind theirs = lifetime_of(*h.builtin, *h.dynamic, *h.flags);
        bool ok;

        if (theirs == LIFETIME_DYNAMIC)
                ok = mine == LIFETIME_DYNAMIC && *h.session == e->caller.session;
        else
                ok = theirs <= mine; /* built-in < persistent < static < dynamic */
        if (ok && mine == LIFETIME_PERSISTENT && theirs == LIFETIME_PERSISTENT && h.provider && *h.provider &&
            provider_key && !guid_is_null(provider_key) && !guid_equal(provider_key, &(*h.provider)->key))
                /* the third rule: not another provider's persistent object (doc/org.bfed.Engine1.md) */
                return engine_error(err, FWP_E_LIFETIME_MISMATCH,
                                    "a persistent %s of provider %s cannot reference the persistent %s %s "
                                    "of another provider, %s", object_info(kind)->text, guid_str(provider_key),
                                    object_info(ref_kind)->text, guid_str(h.key), guid_str(&(*h.provider)->key));
        if (ok)
                return 0;
        return engine_error(err, FWP_E_LIFETIME_MISMATCH,
                            "a %s %s cannot reference the %s%s %s %s, which can die sooner",
                            kind == OBJECT_FILTER && (flags & WFP_FILTER_FLAG_BOOTTIME) ? "boot-time" :
                                    lifetime_name(mine), object_info(kind)->text, lifetime_name(theirs),
                            theirs == LIFETIME_DYNAMIC && *h.session != e->caller.session ?
                                    " (another session's)" : "",
                            object_info(ref_kind)->text, guid_str(h.key));
}

int check_new_flags(Engine *e, ObjectKind kind, uint32_t flags, EngineError *err) {
        if (e->caller.dynamic && (flags & WFP_FLAG_PERSISTENT))
                return engine_error(err, FWP_E_INVALID_FLAGS, "a dynamic session cannot add a persistent %s",
                                    object_info(kind)->text);
        if (e->caller.dynamic && kind == OBJECT_FILTER && (flags & WFP_FILTER_FLAG_BOOTTIME))
                return engine_error(err, FWP_E_INVALID_FLAGS, "a dynamic session cannot add a boot-time filter: "
                                    "it outlives the session (it is stored for every boot)");
        return 0;
}

/* In a dynamic session only the session's own objects may be deleted. */
int check_delete(Engine *e, ObjectKind kind, void *o, EngineError *err) {
        Head h = head(kind, o);

        if (!e->caller.dynamic)
                return 0;
        if (!*h.dynamic)
                return engine_error(err, FWP_E_DYNAMIC_SESSION_IN_PROGRESS,
                                    "%s %s was not added by a dynamic session; "
                                    "this dynamic session may delete only its own objects",
                                    object_info(kind)->text, guid_str(h.key));
        if (*h.session != e->caller.session)
                return engine_error(err, FWP_E_WRONG_SESSION, "%s %s belongs to another dynamic session",
                                    object_info(kind)->text, guid_str(h.key));
        return 0;
}

/* ---- each kind's place in its list ------------------------------------------------------ */

void provider_unref(Provider *p) {
        if (p)
                p->n_refs--;
}

void provider_ref(Provider *p) {
        if (p)
                p->n_refs++;
}

/* Each kind's place in its list (kinds[].link): providers and contexts are plain lists, newest
 * first ... */
void plain_link(Engine *e, ObjectKind kind, void *o) {
        list_prepend(live_list(e, kind), kind, o);
}

void plain_unlink(Engine *e, ObjectKind kind, void *o) {
        list_remove(live_list(e, kind), kind, o);
}

/* ... sublayers are in evaluation order: higher weight first, equal weights in order of addition. */
void sublayer_link(Engine *e, ObjectKind kind, void *o) {
        Sublayer *s = o, *at = NULL;

        for (Sublayer *i = e->sublayers; i; i = i->next) {
                if (i->weight < s->weight || (i->weight == s->weight && i->seq > s->seq))
                        break;
                at = i;
        }
        s->prev = at;
        s->next = at ? at->next : e->sublayers;
        if (s->next)
                s->next->prev = s;
        if (at)
                at->next = s;
        else
                e->sublayers = s;
        s->live = true;
}

void sublayer_unlink(Engine *e, ObjectKind kind, void *o) {
        Sublayer *s = o;

        LIST_REMOVE(e->sublayers, s);
        s->live = false;
}

static bool filter_is_mm_policy(const Filter *f) {
        WfpLayerKind k = wfp_layer_info(f->layer)->kind;

        return k == WFP_LAYER_KIND_IKEEXT && f->context && wfp_context_type_is_mm(f->context->type);
}

/* ... and a filter is in the engine's list, in order of addition, and in its sublayer's evaluation
 * order in its layer (filter-order.c). */
void filter_link(Engine *e, ObjectKind kind, void *o) {
        Filter *f = o;
        Sublayer *s = f->sublayer;

        LIST_APPEND(e->filters, e->filters_tail, f);
        e->n_filters++;
        filter_order_link(f);

        s->n_refs++;
        if (f->context)
                f->context->n_refs++;
        if (filter_is_mm_policy(f))
                e->n_mm_policies++;
        f->live = true;
}

void filter_unlink(Engine *e, ObjectKind kind, void *o) {
        Filter *f = o;
        Sublayer *s = f->sublayer;

        LIST_REMOVE_TAIL(e->filters, e->filters_tail, f);
        e->n_filters--;
        filter_order_unlink(f);

        s->n_refs--;
        if (f->context)
                f->context->n_refs--;
        if (filter_is_mm_policy(f))
                e->n_mm_policies--;
        f->live = false;
}

static void filter_key_of(const void *object, uint8_t ret[static 16]) {
        memcpy(ret, ((const Filter *) object)->key.b, 16);
}

static void filter_id_of(const void *object, uint8_t ret[static 16]) {
        keymap_id_key(((const Filter *) object)->id, ret);
}

void filter_maps_init(Engine *e) {
        e->filters_by_key = OBJMAP_INIT(filter_key_of);
        e->filters_by_id = OBJMAP_INIT(filter_id_of);
}

/* The lookup maps hold a filter from its add until it is freed: a deleted filter stays in
 * them (its lookups check f->live) so that an abort can relink it without allocating. A new
 * filter with a deleted one's key takes its place in the map by key. */
int filter_remember(Engine *e, Filter *f) {
        uint8_t id[16];
        int r;

        r = objmap_put(&e->filters_by_id, f);
        if (r < 0)
                return r;
        r = objmap_put(&e->filters_by_key, f);
        if (r < 0) {
                keymap_id_key(f->id, id);
                (void) objmap_remove(&e->filters_by_id, id);
        }
        return r;
}

void filter_forget(Engine *e, Filter *f) {
        uint8_t id[16];

        keymap_id_key(f->id, id);
        if (objmap_get(&e->filters_by_id, id) == f)
                (void) objmap_remove(&e->filters_by_id, id);
        if (objmap_get(&e->filters_by_key, f->key.b) == f)
                (void) objmap_remove(&e->filters_by_key, f->key.b);
}

/* ---- the kinds' own part of an add ------------------------------------------------------- *
 *
 * object_add() calls these through kinds[]: check before the object is made, fill after. Each
 * takes its kind's add spec (its public struct) as @s.
 */

static int check_flags(ObjectKind kind, uint32_t flags, uint32_t valid, const char *hint, EngineError *err) {
        if (flags & ~valid)
                return engine_error(err, FWP_E_INVALID_FLAGS, "%s flags 0x%" PRIx32 " are not valid%s",
                                    object_info(kind)->text, flags, hint);
        return 0;
}

int provider_check(Engine *e, const void *s, EngineError *err) {
        const ProviderSpec *spec = s;

        return check_flags(OBJECT_PROVIDER, spec->flags, WFP_FLAG_PERSISTENT, "", err);
}

#define ENGINE_SUBLAYERS_MAX 1024

int sublayer_check(Engine *e, const void *s, EngineError *err) {
        const SublayerSpec *spec = s;
        size_t n = 0;
        int r;

        r = check_flags(OBJECT_SUBLAYER, spec->flags, WFP_FLAG_PERSISTENT, "", err);
        if (r < 0)
                return r;
        for (Sublayer *i = e->sublayers; i; i = i->next)
                n += !i->builtin;
        if (n >= ENGINE_SUBLAYERS_MAX)
                return engine_error(err, FWP_E_TOO_MANY_SUBLAYERS, "the engine has %d sublayers already",
                                    ENGINE_SUBLAYERS_MAX);
        return 0;
}

int sublayer_fill(Engine *e, void *o, const void *s, const char *const *condition_texts,
                         EngineError *err) {
        const SublayerSpec *spec = s;
        Sublayer *sl = o;

        sl->engine = e;
        sl->weight = spec->weight;
        return 0;
}

int context_check(Engine *e, const void *s, EngineError *err) {
        const ProviderContextSpec *spec = s;
        int r;

        r = check_blob("context data", &spec->data, err);
        if (r < 0)
                return r;
        if (spec->type >= WFP_CONTEXT_TYPE_MAX)
                return engine_error(err, FWP_E_INVALID_ENUMERATOR,
                                    "provider context type %" PRIu32 " is not valid (0-%u)",
                                    spec->type, WFP_CONTEXT_TYPE_MAX - 1);
        r = ipsec_context_check(spec->type, spec->policy_flags, err);
        if (r < 0)
                return r;
        return check_flags(OBJECT_PROVIDER_CONTEXT, spec->flags, WFP_FLAG_PERSISTENT, "", err);
}

int context_fill(Engine *e, void *o, const void *s, const char *const *condition_texts,
                        EngineError *err) {
        const ProviderContextSpec *spec = s;
        ProviderContext *c = o;

        if (blob_copy(&spec->data, &c->data) < 0)
                return -ENOMEM;
        c->type = spec->type;
        c->policy_flags = spec->policy_flags;
        return 0;
}

int filter_check(Engine *e, const void *s, EngineError *err) {
        const FilterSpec *spec = s;
        WfpLayer layer;
        int r;

        if (!spec->layer || wfp_layer_from_string(spec->layer, &layer) < 0)
                return engine_error(err, FWP_E_LAYER_NOT_FOUND, "no layer '%s'", spec->layer ?: "");
        r = check_flags(OBJECT_FILTER, spec->flags,
                        WFP_FLAG_PERSISTENT | WFP_FILTER_FLAG_BOOTTIME | WFP_FILTER_FLAG_HAS_PROVIDER_CONTEXT |
                                WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT | WFP_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED,
                        " (persistent 0x1, boottime 0x2, has-provider-context 0x4, clear-action-right 0x8, "
                        "permit-if-callout-unregistered 0x10)", err);
        if (r < 0)
                return r;
        /* WFP: a boot-time filter is not persistent (it is replaced at BFE's start), and lives in
         * the kernel's layers only (doc/org.bfed.Engine1.md "Boot-time filters") */
        if ((spec->flags & WFP_FLAG_PERSISTENT) && (spec->flags & WFP_FILTER_FLAG_BOOTTIME))
                return engine_error(err, FWP_E_INVALID_FLAGS, "flags PERSISTENT (0x1) and BOOTTIME (0x2) do not go "
                                    "together: a boot-time filter is enforced until bfed runs, a persistent one "
                                    "while it does");
        if ((spec->flags & WFP_FILTER_FLAG_BOOTTIME) && !wfp_layer_is_emitted(layer))
                return engine_error(err, FWP_E_INCOMPATIBLE_LAYER, "layer %s is keying policy kept for the "
                                    "providers, not a packet layer: it cannot have boot-time filters (BOOTTIME 0x2)",
                                    wfp_layer_info(layer)->name);
        /* WFP: only with FWP_ACTION_CALLOUT_TERMINATING or _UNKNOWN (bfed has the former) */
        if ((spec->flags & WFP_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED) &&
            spec->action != WFP_ACTION_CALLOUT_TERMINATING)
                return engine_error(err, FWP_E_INVALID_FLAGS, "flag PERMIT_IF_CALLOUT_UNREGISTERED (0x10) needs "
                                    "action FWP_ACTION_CALLOUT_TERMINATING (0x5003), not 0x%" PRIx32,
                                    spec->action ?: WFP_ACTION_PERMIT);
        if ((unsigned) spec->weight_kind > WEIGHT_EXPLICIT)
                return engine_error(err, FWP_E_INVALID_WEIGHT, "weight kind %u is not valid",
                                    (unsigned) spec->weight_kind);
        if (spec->weight_kind == BFE_WEIGHT_RANGE && spec->weight > WFP_WEIGHT_RANGE_MAX)
                return engine_error(err, FWP_E_INVALID_WEIGHT, "weight range %" PRIu64 " is not valid (0-15)",
                                    spec->weight);
        if (spec->action == WFP_ACTION_CALLOUT_TERMINATING) {
                WfpLayer callout_layer;

                if (wfp_callout_layer(&spec->callout_key, &callout_layer) < 0)
                        return engine_error(err, FWP_E_CALLOUT_NOT_FOUND, "no callout %s (bfed has the four "
                                            "FWPM_CALLOUT_IPSEC_{INBOUND,OUTBOUND}_TRANSPORT_V{4,6})",
                                            guid_str(&spec->callout_key));
                if (callout_layer != layer)
                        return engine_error(err, FWP_E_ACTION_INCOMPATIBLE_WITH_LAYER,
                                            "callout %s works at layer %s, not %s", guid_str(&spec->callout_key),
                                            wfp_layer_info(callout_layer)->name, wfp_layer_info(layer)->name);
        } else if (spec->action != 0 && spec->action != WFP_ACTION_PERMIT && spec->action != WFP_ACTION_BLOCK)
                return engine_error(err, FWP_E_INVALID_ACTION_TYPE,
                                    "action 0x%" PRIx32 " is not valid (block 0x1001, permit 0x1002, "
                                    "callout 0x5003)", spec->action);
        if (spec->n_conditions > ENGINE_CONDITIONS_MAX)
                return engine_error(err, FWP_E_INVALID_PARAMETER, "more than %d conditions", ENGINE_CONDITIONS_MAX);
        return 0;
}

static int check_context_layer(const Filter *f, EngineError *err) {
        WfpLayerKind kind = wfp_layer_info(f->layer)->kind;
        uint32_t type;

        if (!f->context)
                return 0;
        type = f->context->type;
        if (wfp_context_type_is_mm(type) && kind != WFP_LAYER_KIND_IKEEXT)
                return engine_error(err, FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER,
                                    "provider context %s is main-mode policy (type %" PRIu32 ", %s); "
                                    "it belongs in IKEEXT_V4/V6, not %s",
                                    guid_str(&f->context->key), type, wfp_context_type_name(type),
                                    wfp_layer_info(f->layer)->name);
        if (kind == WFP_LAYER_KIND_IKEEXT && !wfp_context_type_is_mm(type))
                return engine_error(err, FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER,
                                    "layer %s takes main-mode policy contexts (types 5, 6, 10), "
                                    "not type %" PRIu32 " (%s)",
                                    wfp_layer_info(f->layer)->name, type, wfp_context_type_name(type));
        return 0;
}

/* The text shown for a condition whose value was given resolved (engine_add_filter_texts()). */
static int condition_set_text(Condition *c, const char *text, EngineError *err) {
        if (c->field != WFP_FIELD_ALE_USER_ID || !*text)
                return engine_error(err, FWP_E_INVALID_PARAMETER, "condition %s: only an ALE_USER_ID condition "
                                    "may be shown with a text of its own (a user name)",
                                    wfp_field_info(c->field)->name);
        if (!utf8_is_valid(text))
                return engine_error(err, FWP_E_INVALID_PARAMETER, "condition %s text: bad Unicode (not valid UTF-8)",
                                    wfp_field_info(c->field)->name);
        return condition_keep_text(c, text);
}

/* The filter has its provider, sublayer and context already (object_add() resolved them). */
int filter_fill(Engine *e, void *o, const void *s, const char *const *condition_texts,
                       EngineError *err) {
        const FilterSpec *spec = s;
        Filter *f = o;
        WfpLayer layer;
        int r;

        (void) wfp_layer_from_string(spec->layer, &layer); /* filter_check() parsed it */
        f->layer = (uint8_t) layer;
        /* a callout's key is its layer's callout (filter_check()): filter_callout_key() gives it back */
        f->action = spec->action ?: WFP_ACTION_PERMIT;
        f->weight_kind = (uint8_t) spec->weight_kind;
        f->weight = spec->weight;
        if (!f->sublayer)
                f->sublayer = engine_universal_sublayer(e); /* a zero sublayer key means that one */

        /* the flag says whether it has a context, whatever the caller said */
        f->flags &= ~WFP_FILTER_FLAG_HAS_PROVIDER_CONTEXT;
        if (f->context)
                f->flags |= WFP_FILTER_FLAG_HAS_PROVIDER_CONTEXT;
        else if (spec->flags & WFP_FILTER_FLAG_HAS_PROVIDER_CONTEXT)
                return engine_error(err, FWP_E_PROVIDER_CONTEXT_NOT_FOUND,
                                    "flag HAS_PROVIDER_CONTEXT is set but no provider context is given");
        f->raw_context = spec->raw_context;
        r = check_context_layer(f, err);
        if (r >= 0)
                r = ipsec_filter_check(f, err);
        if (r < 0)
                return r;

        if (spec->n_conditions > 0) {
                /* room for them after the struct: object_new() (filter_check() bounded them) */
                for (size_t i = 0; i < spec->n_conditions; i++) {
                        r = condition_parse(f->layer, &spec->conditions[i], err, &f->conditions[i]);
                        if (r < 0)
                                return r;
                        f->n_conditions++;
                        if (condition_texts && condition_texts[i]) {
                                r = condition_set_text(&f->conditions[i], condition_texts[i], err);
                                if (r < 0)
                                        return r;
                        }
                }
                r = conditions_check_groups(f->conditions, f->n_conditions, err);
                if (r >= 0)
                        r = conditions_check_layer(f->layer, f->conditions, f->n_conditions, err);
                if (r < 0)
                        return r;
        }

        switch (f->weight_kind) {
        case WEIGHT_AUTO:
                f->effective_weight = filter_auto_weight(f->conditions, f->n_conditions);
                break;
        case WEIGHT_RANGE:
                f->effective_weight = f->weight << WFP_AUTO_WEIGHT_BITS |
                                      filter_auto_weight(f->conditions, f->n_conditions);
                break;
        case WEIGHT_EXPLICIT:
                f->effective_weight = f->weight;
                break;
        }
        return 0;
}


