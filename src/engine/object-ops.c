/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * object-ops.c — the engine's objects as their public structs (views), for replies and the
 * state file. Adding, deleting and finding an object of any kind is in engine.c, with the rules
 * the four kinds share.
 */
#include <errno.h>
#include <inttypes.h>

#include "engine.h"

/* The views of the four kinds, alike so that engine_object_view() can pick one by kind: each
 * takes the kind's object and fills in its public struct (only a filter uses @buf). */

static void provider_view(const void *object, ConditionViews *buf, void *ret) {
        const Provider *p = object;
        BfeProvider *v = ret;

        *v = (BfeProvider) {
                .key = p->key, .name = p->name, .description = p->description, .flags = p->flags,
                .provider_data = p->provider_data,
        };
}

static void sublayer_view(const void *object, ConditionViews *buf, void *ret) {
        const Sublayer *s = object;
        BfeSublayer *v = ret;

        *v = (BfeSublayer) {
                .key = s->key, .name = s->name, .description = s->description, .flags = s->flags,
                .provider_data = s->provider_data, .weight = s->weight,
        };
        if (s->provider)
                v->provider_key = s->provider->key;
}

static void context_view(const void *object, ConditionViews *buf, void *ret) {
        const ProviderContext *c = object;
        BfeProviderContext *v = ret;

        *v = (BfeProviderContext) {
                .key = c->key, .name = c->name, .description = c->description, .flags = c->flags,
                .provider_data = c->provider_data, .type = c->type, .data = c->data,
                .policy_flags = c->policy_flags, .id = c->id,
        };
        if (c->provider)
                v->provider_key = c->provider->key;
}

static void filter_view(const void *object, ConditionViews *buf, void *ret) {
        const Filter *f = object;
        const WfpLayerInfo *li = wfp_layer_info(f->layer);
        BfeFilter *v = ret;

        *v = (BfeFilter) {
                .key = f->key, .name = f->name, .description = f->description, .flags = f->flags,
                .provider_data = f->provider_data, .layer = (char *) li->name,
                .sublayer_key = f->sublayer->key, .weight_kind = (BfeWeightKind) f->weight_kind,
                .weight = f->weight, .effective_weight = f->effective_weight, .action = f->action,
                .callout_key = filter_callout_key(f), .raw_context = f->raw_context, .conditions = buf->conditions,
                .n_conditions = f->n_conditions,
                .id = f->id, .engine_owned = f->engine_owned,
        };
        (void) guid_from_string(li->guid, &v->layer_key);
        if (f->provider)
                v->provider_key = f->provider->key;
        if (f->context)
                v->provider_context_key = f->context->key;
        for (size_t i = 0; i < f->n_conditions; i++)
                buf->conditions[i] = (BfeCondition) {
                        .field = (char *) wfp_field_info(f->conditions[i].field)->name,
                        .match = (uint32_t) f->conditions[i].match,
                        .value = (char *) condition_text(&f->conditions[i], buf->texts[i]),
                };
}

static void (*const views[_OBJECT_KIND_MAX])(const void *object, ConditionViews *buf, void *ret) = {
        [OBJECT_PROVIDER] = provider_view,
        [OBJECT_SUBLAYER] = sublayer_view,
        [OBJECT_PROVIDER_CONTEXT] = context_view,
        [OBJECT_FILTER] = filter_view,
};

uint64_t engine_object_id(ObjectKind kind, const void *object) {
        if (kind == OBJECT_PROVIDER_CONTEXT)
                return ((const ProviderContext *) object)->id;
        if (kind == OBJECT_FILTER)
                return ((const Filter *) object)->id;
        return 0;
}

void engine_object_view(ObjectKind kind, const void *object, ConditionViews *buf, void *ret) {
        if ((unsigned) kind < _OBJECT_KIND_MAX)
                views[kind](object, buf, ret);
}
