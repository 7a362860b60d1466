/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * enumerate.h — enumerations: which objects match a template, and WFP's paged enumeration.
 *
 * An enumeration handle (Fwpm*CreateEnumHandle0) is a snapshot taken when it is created: the
 * matching objects in enumeration order, each pinned in the engine (engine_pin()) so that it
 * can still be read after it is deleted; objects added later are not in it. A handle belongs
 * to the bus peer that created it and dies with it, when destroyed, or after
 * ENUM_IDLE_USEC without use. A peer holds at most ENUM_HANDLES_PER_PEER_MAX handles, a uid
 * ENUM_HANDLES_PER_UID_MAX, the engine ENUM_HANDLES_MAX.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "engine.h"

typedef struct Manager Manager;

#define ENUM_HANDLES_PER_PEER_MAX 16
#define ENUM_HANDLES_PER_UID_MAX 64
#define ENUM_HANDLES_MAX 1024
#define ENUM_IDLE_USEC (60 * 1000000ULL)

/* FWPM_*_ENUM_TEMPLATE0, as far as bfed has them: unset parts match everything. */
typedef struct EnumTemplate {
        ObjectKind kind;
        BfeKey provider_key;            /* zero: any */
        bool has_type;                  /* provider contexts: only this type */
        uint32_t type;
        bool has_layer;                 /* filters: only this layer */
        WfpLayer layer;
        BfeKey sublayer_key;            /* filters: zero: any */
        /* filters, the rest of FWPM_FILTER_ENUM_TEMPLATE0 (doc/org.bfed.Engine1.md) */
        FilterEnumType enum_type;
        bool has_conditions;
        ConditionSpec condition_specs[ENGINE_CONDITIONS_MAX]; /* as read: text in the call's message */
        size_t n_condition_specs;
        Condition conditions[ENGINE_CONDITIONS_MAX];          /* parsed at the layer, texts not kept */
        size_t n_conditions;
        bool has_action_mask;           /* only filters whose action has one of these bits */
        uint32_t action_mask;
        BfeKey callout_key;             /* zero: any; else callout filters with this callout */
        uint32_t flags;                 /* WFP_FILTER_ENUM_FLAG_*: boot-time filters only with BOOTTIME_ONLY
                                         * (those alone) or INCLUDE_BOOTTIME */
} EnumTemplate;

/* Calls @visit for every object that matches @t, in enumeration order (filters by layer,
 * sublayer weight and effective weight, highest first), until it returns non-zero. */
int enum_walk(const Engine *e, const EnumTemplate *t, int (*visit)(void *object, void *userdata), void *userdata);

typedef struct EnumHandle EnumHandle;
struct EnumHandle {
        Manager *manager;
        uint64_t id;
        char *owner;
        uid_t uid;
        ObjectKind kind;
        void **objects;                 /* pinned */
        size_t n, pos;
        sd_event_source *idle;
        EnumHandle *prev, *next;
};

int enum_create(Manager *m, const char *owner, uid_t uid, const EnumTemplate *t, EngineError *err,
                EnumHandle **ret);
/* The handle @id of @owner; FWP_E_INVALID_ENUMERATOR for an unknown one or another peer's.
 * Finding it counts as using it (the idle timer starts again). */
int enum_find(Manager *m, uint64_t id, const char *owner, EngineError *err, EnumHandle **ret);
EnumHandle *enum_destroy(EnumHandle *h);
/* Destroys the handle @id of @owner; errors as enum_find(). */
int enum_destroy_owned(Manager *m, uint64_t id, const char *owner, EngineError *err);
void enums_done(Manager *m);
