/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* enumerate.c — template matching and enumeration handles (snapshots). See enumerate.h. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "enumerate.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

static bool provider_matches(const Provider *p, const BfeKey *key) {
        return guid_is_null(key) || (p && guid_equal(&p->key, key));
}

/* A filter's action, callout and conditions against the template's. */
static bool filter_matches_template(const EnumTemplate *t, const Filter *f) {
        if (t->has_action_mask && !(f->action & t->action_mask))
                return false;
        if (!guid_is_null(&t->callout_key)) {
                BfeGuid callout = filter_callout_key(f);

                if (!(f->action & WFP_ACTION_FLAG_CALLOUT) || !guid_equal(&callout, &t->callout_key))
                        return false;
        }
        return filter_template_matches(f, t->conditions, t->n_conditions, t->enum_type);
}

/* Whether @object of the template's kind matches it; a filter's layer and sublayer are
 * chosen by the walk itself. */
static bool matches(const EnumTemplate *t, const void *object) {
        const ProviderContext *c;

        switch (t->kind) {
        case OBJECT_PROVIDER:
                return provider_matches(object, &t->provider_key);
        case OBJECT_SUBLAYER:
                return provider_matches(((const Sublayer *) object)->provider, &t->provider_key);
        case OBJECT_PROVIDER_CONTEXT:
                c = object;
                return (!t->has_type || c->type == t->type) && provider_matches(c->provider, &t->provider_key);
        case OBJECT_FILTER:
                return provider_matches(((const Filter *) object)->provider, &t->provider_key) &&
                       filter_matches_template(t, object);
        case _OBJECT_KIND_MAX:
                break;
        }
        return false;
}

/* The objects of a list (linked through the member at @next_offset) that match, in order. */
static int walk_list(const EnumTemplate *t, void *first, size_t next_offset,
                     int (*visit)(void *object, void *userdata), void *userdata) {
        int r;

        for (void *o = first; o; o = *(void **) ((uint8_t *) o + next_offset))
                if (matches(t, o) && (r = visit(o, userdata)) != 0)
                        return r;
        return 0;
}

/* A sublayer's filters of one layer: the running ones, the boot-time ones, or both merged in
 * evaluation order, as the template's flags say (WFP leaves boot-time filters out by default). */
static int walk_filters(const EnumTemplate *t, const Sublayer *s, WfpLayer l,
                        int (*visit)(void *object, void *userdata), void *userdata) {
        bool boot_only = t->flags & WFP_FILTER_ENUM_FLAG_BOOTTIME_ONLY;
        Filter *a = boot_only ? NULL : s->filters_head[l];
        Filter *b = boot_only || (t->flags & WFP_FILTER_ENUM_FLAG_INCLUDE_BOOTTIME) ? s->boot_head[l] : NULL;
        int r;

        while (a || b) {
                Filter **next = !b || (a && filter_compare(a, b) <= 0) ? &a : &b;
                Filter *f = *next;

                *next = f->lnext;
                if (matches(t, f) && (r = visit(f, userdata)) != 0)
                        return r;
        }
        return 0;
}

int enum_walk(const Engine *e, const EnumTemplate *t, int (*visit)(void *object, void *userdata), void *userdata) {
        WfpLayer first = t->has_layer ? t->layer : 0, end = t->has_layer ? t->layer + 1 : _WFP_LAYER_MAX;
        int r;

        switch (t->kind) {
        case OBJECT_PROVIDER:
                return walk_list(t, engine_providers(e), offsetof(Provider, next), visit, userdata);
        case OBJECT_SUBLAYER:
                return walk_list(t, engine_sublayers(e), offsetof(Sublayer, next), visit, userdata);
        case OBJECT_PROVIDER_CONTEXT:
                return walk_list(t, engine_provider_contexts(e), offsetof(ProviderContext, next), visit, userdata);
        case OBJECT_FILTER:
                /* layer by layer, then sublayer by sublayer, each in its list order */
                for (WfpLayer l = first; l < end; l++)
                        for (Sublayer *s = engine_sublayers(e); s; s = s->next) {
                                if (!guid_is_null(&t->sublayer_key) && !guid_equal(&s->key, &t->sublayer_key))
                                        continue;
                                r = walk_filters(t, s, l, visit, userdata);
                                if (r != 0)
                                        return r;
                        }
                return 0;
        case _OBJECT_KIND_MAX:
                break;
        }
        return -EINVAL;
}

/* ---- handles ------------------------------------------------------------------------------ */

typedef struct Collect {
        void **objects;
        size_t n, alloc;
} Collect;

static int collect(void *object, void *userdata) {
        Collect *c = userdata;

        if (!ARRAY_RESERVE(c->objects, c->alloc, c->n + 1, 64))
                return -ENOMEM;
        c->objects[c->n++] = object;
        return 0;
}

static int on_idle(sd_event_source *source, uint64_t usec, void *userdata) {
        EnumHandle *h = userdata;

        log_debug("Enumeration handle %" PRIu64 " of %s unused for %" PRIu64 " s: destroyed.", h->id, h->owner,
                  h->manager->enum_idle_usec / 1000000);
        enum_destroy(h);
        return 0;
}

EnumHandle *enum_destroy(EnumHandle *h) {
        Manager *m;

        if (!h)
                return NULL;
        m = h->manager;
        LIST_REMOVE(m->enums, h);
        m->n_enums--;
        for (size_t i = 0; i < h->n; i++)
                engine_unpin(m->engine, h->kind, h->objects[i]);
        free(h->objects);
        sd_event_source_disable_unref(h->idle);
        free(h->owner);
        free(h);
        return NULL;
}

int enum_create(Manager *m, const char *owner, uid_t uid, const EnumTemplate *t, EngineError *err,
                EnumHandle **ret) {
        Collect c = {};
        size_t mine = 0, theirs = 0;
        EnumHandle *h;
        int r;

        for (EnumHandle *i = m->enums; i; i = i->next) {
                mine += streq(i->owner, owner);
                theirs += i->uid == uid;
        }
        if (mine >= ENUM_HANDLES_PER_PEER_MAX)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "a connection may hold %d enumeration handles "
                                    "(destroy one first)", ENUM_HANDLES_PER_PEER_MAX);
        if (theirs >= ENUM_HANDLES_PER_UID_MAX)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "uid %u holds %d enumeration handles already",
                                    (unsigned) uid, ENUM_HANDLES_PER_UID_MAX);
        if (m->n_enums >= ENUM_HANDLES_MAX)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "the engine holds %d enumeration handles already",
                                    ENUM_HANDLES_MAX);

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        r = enum_walk(m->engine, t, collect, &c);
        h->owner = strdup(owner);
        if (r < 0 || !h->owner) {
                free(c.objects);
                free(h->owner);
                free(h);
                return r < 0 ? r : -ENOMEM;
        }
        r = sd_event_add_time_relative(m->event, &h->idle, CLOCK_MONOTONIC, m->enum_idle_usec, 0, on_idle, h);
        if (r < 0) {
                free(c.objects);
                free(h->owner);
                free(h);
                return r;
        }
        h->manager = m;
        h->id = ++m->next_enum_id;
        h->uid = uid;
        h->kind = t->kind;
        h->objects = c.objects;
        h->n = c.n;
        for (size_t i = 0; i < h->n; i++)
                engine_pin(m->engine, h->kind, h->objects[i]);
        LIST_PREPEND(m->enums, h);
        m->n_enums++;
        log_debug("Enumeration handle %" PRIu64 " of %s: %zu %s objects.", h->id, owner, h->n,
                  object_kind_to_string(h->kind));
        *ret = h;
        return 0;
}

int enum_find(Manager *m, uint64_t id, const char *owner, EngineError *err, EnumHandle **ret) {
        for (EnumHandle *h = m->enums; h; h = h->next)
                if (h->id == id && streq(h->owner, owner)) {
                        (void) sd_event_source_set_time_relative(h->idle, m->enum_idle_usec);
                        (void) sd_event_source_set_enabled(h->idle, SD_EVENT_ONESHOT);
                        *ret = h;
                        return 0;
                }
        return engine_error(err, FWP_E_INVALID_ENUMERATOR, "no enumeration handle %" PRIu64 " of this connection", id);
}

int enum_destroy_owned(Manager *m, uint64_t id, const char *owner, EngineError *err) {
        EnumHandle *h;
        int r = enum_find(m, id, owner, err, &h);

        if (r >= 0)
                enum_destroy(h);
        return r;
}

void enums_done(Manager *m) {
        while (m->enums)
                enum_destroy(m->enums);
}
