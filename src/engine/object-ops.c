/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * object-ops.c — the engine's objects as their public structs (views), for replies and the
 * state file. Adding, deleting and finding an object of any kind is in engine.c, with the rules
 * the four kinds share.
 */
#include <errno.h>
#include <inttypes.h>

#include "engine.h"

void engine_provider_view(const Provider *p, BfeProvider *ret) {
        *ret = (BfeProvider) {
                .key = p->key, .name = p->name, .description = p->description, .flags = p->flags,
                .provider_data = p->provider_data,
        };
}

void engine_sublayer_view(const Sublayer *s, BfeSublayer *ret) {
        *ret = (BfeSublayer) {
                .key = s->key, .name = s->name, .description = s->description, .flags = s->flags,
                .provider_data = s->provider_data, .weight = s->weight,
        };
        if (s->provider)
                ret->provider_key = s->provider->key;
}

void engine_context_view(const ProviderContext *c, BfeProviderContext *ret) {
        *ret = (BfeProviderContext) {
                .key = c->key, .name = c->name, .description = c->description, .flags = c->flags,
                .provider_data = c->provider_data, .type = c->type, .data = c->data, .id = c->id,
        };
        if (c->provider)
                ret->provider_key = c->provider->key;
}

void engine_filter_view(const Filter *f, BfeCondition *conditions, BfeFilter *ret) {
        const WfpLayerInfo *li = wfp_layer_info(f->layer);

        *ret = (BfeFilter) {
                .key = f->key, .name = f->name, .description = f->description, .flags = f->flags,
                .provider_data = f->provider_data, .layer = (char *) li->name,
                .sublayer_key = f->sublayer->key, .weight_kind = (BfeWeightKind) f->weight_kind,
                .weight = f->weight, .effective_weight = f->effective_weight, .action = f->action,
                .callout_key = f->callout_key, .conditions = conditions, .n_conditions = f->n_conditions,
                .id = f->id, .engine_owned = f->engine_owned,
        };
        (void) guid_from_string(li->guid, &ret->layer_key);
        if (f->provider)
                ret->provider_key = f->provider->key;
        if (f->context)
                ret->provider_context_key = f->context->key;
        for (size_t i = 0; i < f->n_conditions; i++)
                conditions[i] = (BfeCondition) {
                        .field = (char *) wfp_field_info(f->conditions[i].field)->name,
                        .match = (uint32_t) f->conditions[i].match,
                        .value = f->conditions[i].text,
                };
}

uint64_t engine_object_id(ObjectKind kind, const void *object) {
        if (kind == OBJECT_PROVIDER_CONTEXT)
                return ((const ProviderContext *) object)->id;
        if (kind == OBJECT_FILTER)
                return ((const Filter *) object)->id;
        return 0;
}

void engine_object_view(ObjectKind kind, const void *object, BfeCondition *conditions, void *ret) {
        switch (kind) {
        case OBJECT_PROVIDER:
                engine_provider_view(object, ret);
                break;
        case OBJECT_SUBLAYER:
                engine_sublayer_view(object, ret);
                break;
        case OBJECT_PROVIDER_CONTEXT:
                engine_context_view(object, ret);
                break;
        case OBJECT_FILTER:
                engine_filter_view(object, conditions, ret);
                break;
        case _OBJECT_KIND_MAX:
                break;
        }
}
