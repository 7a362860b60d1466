/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe-enum.c — libbfe: enumerations. WFP's paged enumeration (Create*EnumHandle, *Enum,
 * DestroyEnumHandle), and the one-shot bfe_*_enum() calls built on it, so that listing works at
 * any database size: bfed refuses a one-shot Enum* reply over 8 MiB, and a page is at most
 * 10,000 objects and 4 MiB.
 */
#include <errno.h>
#include <stdlib.h>

#include <systemd/sd-bus.h>

#include "bfe-internal.h"
#include "macro.h"

/* Objects per page of the one-shot calls: a reply of a few hundred KiB, and few round trips. */
#define ENUM_PAGE_SIZE 1000u

/* The templates of the kinds that have one; NULL members (and a NULL template) match all. */
typedef struct EnumTemplates {
        const BfeProviderContextTemplate *context;
        const BfeFilterTemplate *filter;
} EnumTemplates;

static int append_template_key(sd_bus_message *m, const char *name, const BfeKey *key) {
        char buf[BFE_KEY_STRING_MAX];

        if (bfe_key_is_null(key))
                return 0;
        return sd_bus_message_append(m, "{sv}", name, "s", bfe_key_to_string(key, buf));
}

static int append_template(sd_bus_message *m, const EnumTemplates *t) {
        const BfeProviderContextTemplate *c = t->context;
        const BfeFilterTemplate *f = t->filter;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && f && f->layer)
                r = sd_bus_message_append(m, "{sv}", "Layer", "s", f->layer);
        if (r >= 0 && (c || f))
                r = append_template_key(m, "ProviderKey", c ? &c->provider_key : &f->provider_key);
        if (r >= 0 && f)
                r = append_template_key(m, "SubLayer", &f->sublayer_key);
        if (r >= 0 && c && c->match_type)
                r = sd_bus_message_append(m, "{sv}", "Type", "u", c->type);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

/* Create<Kind>EnumHandle(template) → handle. Records a failure as the engine's last error. */
static int handle_create(BfeEngine *e, ObjectKind kind, const EnumTemplates *t, BfeEnumHandle *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        char member[BFE_MEMBER_MAX];
        uint64_t h;
        int r;

        r = bfe_engine_new_method_call(e, bfe_member(member, "Create", kind, "EnumHandle"), &m);
        if (r >= 0)
                r = append_template(m, t);
        if (r < 0)
                return bfe_engine_result(e, r);
        r = bfe_engine_call(e, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "t", &h);
        if (r < 0)
                return bfe_engine_result(e, r);
        *ret = h;
        return 0;
}

/*
 * Reads pages of @h into *@array until it holds @want objects or the enumeration is complete,
 * asking for at most @page objects a call. bfed may answer a page short of what was asked
 * (it keeps a reply under 4 MiB) while more remain: `more` says which. The objects read stay
 * in *@array, counted in *@n, on failure too.
 */
static int read_pages(BfeEngine *e, ObjectKind kind, BfeEnumHandle h, size_t want, size_t page, void **array,
                      size_t *n, size_t *alloc) {
        char member[BFE_MEMBER_MAX];
        int more, r;

        bfe_member(member, "", kind, "Enum");
        do {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                size_t left = want - *n, before = *n;
                uint32_t ask = (uint32_t) (left < page ? left : page);

                r = bfe_engine_new_method_call(e, member, &m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "tu", h, ask);
                if (r < 0)
                        return bfe_engine_result(e, r);
                r = bfe_engine_call(e, m, &reply);
                if (r < 0)
                        return r;
                r = bfe_read_objects(reply, kind, array, n, alloc);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "b", &more);
                /* More than asked, or nothing though more remain (which would loop forever):
                 * not an answer we can page with. */
                if (r >= 0 && (*n - before > ask || (more && ask > 0 && *n == before)))
                        r = -EBADMSG;
                if (r < 0)
                        return bfe_engine_result(e, r);
        } while (more && *n < want);
        return 0;
}

/*
 * DestroyEnumHandle(h), leaving the engine's last error alone: after a failed enumeration that
 * error is the one to report, and after a complete one the objects are what counts. A handle
 * that cannot be destroyed (the connection is gone) dies with the connection or after 60 s.
 */
static void handle_destroy_quietly(BfeEngine *e, BfeEnumHandle h) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

        if (sd_bus_message_new_method_call(e->bus, &m, BFE_BUS_NAME, e->session_path ?: BFE_OBJECT_PATH,
                                           BFE_INTERFACE, "DestroyEnumHandle") < 0 ||
            sd_bus_message_append(m, "t", h) < 0)
                return;
        (void) sd_bus_call(e->bus, m, e->call_timeout_usec, NULL, NULL);
}

/* The one-shot enumeration: a handle, pages of ENUM_PAGE_SIZE until the end, the handle gone. */
static int enum_all(BfeEngine *e, ObjectKind kind, const EnumTemplates *t, void **ret_array, size_t *ret_n) {
        void *array = NULL;
        size_t n = 0, alloc = 0;
        BfeEnumHandle h;
        int r;

        r = bfe_engine_begin(e, ret_array && ret_n);
        if (r < 0)
                return r;
        r = handle_create(e, kind, t, &h);
        if (r < 0)
                return r;
        r = read_pages(e, kind, h, SIZE_MAX, ENUM_PAGE_SIZE, &array, &n, &alloc);
        handle_destroy_quietly(e, h);
        if (r < 0) {
                bfe_object_array_free(kind, array, n);
                return r;
        }
        *ret_array = bfe_objects_take(kind, &array, n);
        *ret_n = n;
        return 0;
}

static int create_handle(BfeEngine *e, ObjectKind kind, const EnumTemplates *t, BfeEnumHandle *ret) {
        int r;

        r = bfe_engine_begin(e, ret);
        if (r < 0)
                return r;
        return handle_create(e, kind, t, ret);
}

/* The page call: WFP's semantics, at most @n objects and fewer only at the end. */
static int enum_page(BfeEngine *e, ObjectKind kind, BfeEnumHandle h, size_t n, void **ret_array,
                     size_t *ret_n) {
        void *array = NULL;
        size_t got = 0, alloc = 0;
        int r;

        r = bfe_engine_begin(e, ret_array && ret_n);
        if (r < 0)
                return r;
        /* bfed caps a page at 10,000 objects; asking for more just says "as many as you can". */
        r = read_pages(e, kind, h, n, UINT32_MAX, &array, &got, &alloc);
        if (r < 0) {
                bfe_object_array_free(kind, array, got);
                return r;
        }
        *ret_array = bfe_objects_take(kind, &array, got);
        *ret_n = got;
        return 0;
}

_public_ int bfe_enum_handle_destroy(BfeEngine *e, BfeEnumHandle h) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = bfe_engine_begin(e, true);
        if (r < 0)
                return r;
        r = bfe_engine_new_method_call(e, "DestroyEnumHandle", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "t", h);
        if (r < 0)
                return bfe_engine_result(e, r);
        return bfe_engine_call(e, m, &reply);
}

/* ---- per kind ----------------------------------------------------------------------------------- */

_public_ int bfe_provider_create_enum_handle(BfeEngine *e, BfeEnumHandle *ret) {
        return create_handle(e, OBJECT_PROVIDER, &(EnumTemplates) {}, ret);
}

_public_ int bfe_sublayer_create_enum_handle(BfeEngine *e, BfeEnumHandle *ret) {
        return create_handle(e, OBJECT_SUBLAYER, &(EnumTemplates) {}, ret);
}

_public_ int bfe_provider_context_create_enum_handle(BfeEngine *e, const BfeProviderContextTemplate *t,
                                                     BfeEnumHandle *ret) {
        return create_handle(e, OBJECT_PROVIDER_CONTEXT, &(EnumTemplates) { .context = t }, ret);
}

_public_ int bfe_filter_create_enum_handle(BfeEngine *e, const BfeFilterTemplate *t, BfeEnumHandle *ret) {
        return create_handle(e, OBJECT_FILTER, &(EnumTemplates) { .filter = t }, ret);
}

_public_ int bfe_provider_enum_page(BfeEngine *e, BfeEnumHandle h, size_t n, BfeProvider **ret_array,
                                    size_t *ret_n) {
        return enum_page(e, OBJECT_PROVIDER, h, n, (void **) ret_array, ret_n);
}

_public_ int bfe_sublayer_enum_page(BfeEngine *e, BfeEnumHandle h, size_t n, BfeSublayer **ret_array,
                                    size_t *ret_n) {
        return enum_page(e, OBJECT_SUBLAYER, h, n, (void **) ret_array, ret_n);
}

_public_ int bfe_provider_context_enum_page(BfeEngine *e, BfeEnumHandle h, size_t n,
                                            BfeProviderContext **ret_array, size_t *ret_n) {
        return enum_page(e, OBJECT_PROVIDER_CONTEXT, h, n, (void **) ret_array, ret_n);
}

_public_ int bfe_filter_enum_page(BfeEngine *e, BfeEnumHandle h, size_t n, BfeFilter **ret_array, size_t *ret_n) {
        return enum_page(e, OBJECT_FILTER, h, n, (void **) ret_array, ret_n);
}

_public_ int bfe_provider_enum(BfeEngine *e, BfeProvider **ret_array, size_t *ret_n) {
        return enum_all(e, OBJECT_PROVIDER, &(EnumTemplates) {}, (void **) ret_array, ret_n);
}

_public_ int bfe_sublayer_enum(BfeEngine *e, BfeSublayer **ret_array, size_t *ret_n) {
        return enum_all(e, OBJECT_SUBLAYER, &(EnumTemplates) {}, (void **) ret_array, ret_n);
}

_public_ int bfe_provider_context_enum(BfeEngine *e, const BfeProviderContextTemplate *t,
                                       BfeProviderContext **ret_array, size_t *ret_n) {
        return enum_all(e, OBJECT_PROVIDER_CONTEXT, &(EnumTemplates) { .context = t }, (void **) ret_array, ret_n);
}

_public_ int bfe_filter_enum(BfeEngine *e, const BfeFilterTemplate *t, BfeFilter **ret_array, size_t *ret_n) {
        return enum_all(e, OBJECT_FILTER, &(EnumTemplates) { .filter = t }, (void **) ret_array, ret_n);
}
