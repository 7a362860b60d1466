/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store.c — the persistence store: the engine's persistent objects in <statedir>/state.
 *
 * THE FILE FORMAT (version 1). Text, one record per line, every line ending in '\n':
 *
 *   bfed-state 1
 *   provider key=GUID name=S [description=S] flags=0xX [data=HEX]
 *   sublayer key=GUID name=S [description=S] flags=0xX [provider=GUID] [data=HEX] weight=N
 *   context key=GUID name=S [description=S] flags=0xX [provider=GUID] [data=HEX] type=N [context-data=HEX]
 *   filter key=GUID name=S [description=S] flags=0xX [provider=GUID] [data=HEX] layer=LAYER
 *          sublayer=GUID weight=auto|range:N|explicit:N action=block|permit|callout [callout=GUID]
 *          [context=GUID] [condition=FIELD,MATCH,S]...                          (all on one line)
 *   end RECORDS CRC
 *
 * - Fields are separated by exactly one space and are KEY=VALUE; a field in [] is left out when
 *   the object has none (no description, no provider, empty data). Keys may come in any order;
 *   an unknown or repeated key (condition= excepted) is an error.
 * - S is a string with every byte <= 0x20, 0x7f, '%' and ',' written as %XX (upper-case hex),
 *   so names with spaces, tabs, newlines, commas and percent signs survive; other bytes,
 *   UTF-8 included, are written as they are. HEX is a blob in lower-case hex.
 * - flags is the WFP flags word in hex; the persistent flag 0x1 is always set. weight= of a
 *   sublayer and type= of a context are decimal. layer= and FIELD are the WFP names without
 *   FWPM_LAYER_ / FWPM_CONDITION_; MATCH is the FWP_MATCH_TYPE number; the condition's value is
 *   the text the caller gave (the engine parses it again on load).
 * - Order: providers, sublayers (evaluation order), provider contexts, then filters in order
 *   of addition, so every reference points backwards and equal weights keep their tie order.
 *   Filter ids are runtime ids and are not saved. Neither the built-in universal sublayer nor
 *   the engine-owned IKE/AuthIP exemption filters are saved: engine_add_filter() re-derives
 *   the exemptions when an MM policy filter comes back.
 * - The last line carries the number of records between header and end line, and the CRC-32
 *   (IEEE, as zlib's crc32(), 8 lower-case hex digits) of every byte before the end line. A
 *   file cut at any byte either lacks its final newline or lacks the end record; a flipped byte
 *   changes the CRC. A header version above STORE_VERSION is refused by name.
 *
 * Loading validates the whole file (header, end record, CRC, count) before it touches the
 * engine, then re-adds every record with the engine's public add functions inside one engine
 * transaction, so the engine checks references and values exactly as for a D-Bus caller; any
 * failure aborts that transaction and names FILE:LINE. Saving is write-to-temp, fsync, rename,
 * fsync the directory, split in prepare/commit/discard around the kernel commit.
 *
 * This module does not log (STYLE §10): it returns errors, and messages for the load path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "guid.h"
#include "log.h"
#include "macro.h"
#include "store.h"
#include "wfp.h"

#define STORE_FILE "state"
#define STORE_TMP_FILE "state.tmp"
#define STORE_HEADER "bfed-state "
#define STORE_FILE_MAX ((size_t) 1 << 30)                /* 1 GiB: far above 1,000,000 objects */
#define STORE_FIELDS_MAX (16 + ENGINE_CONDITIONS_MAX + 1) /* one condition too many reaches the engine */

struct Store {
        char *dir;
        char *path;                     /* <dir>/state */
        int dir_fd;
        bool prepared;                  /* <dir>/state.tmp is written and waits for commit or discard */
};

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib) ------------------------------------------------- */

static uint32_t crc32_buf(const void *data, size_t n) {
        static uint32_t table[256];
        static bool have_table;
        const uint8_t *p = data;
        uint32_t crc = UINT32_MAX;

        if (!have_table) {
                for (uint32_t i = 0; i < 256; i++) {
                        uint32_t c = i;
                        for (int k = 0; k < 8; k++)
                                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                        table[i] = c;
                }
                have_table = true;
        }
        while (n--)
                crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return ~crc;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* A growing buffer; after a failed allocation every put is a no-op and oom stays set. */
typedef struct Buf {
        char *data;
        size_t size, alloc;
        bool oom;
} Buf;

static void buf_done(Buf *b) {
        free(b->data);
        *b = (Buf) {};
}

static bool buf_reserve(Buf *b, size_t n) {
        size_t want;
        char *d;

        if (b->oom)
                return false;
        if (n < b->alloc && b->size < b->alloc - n)
                return true;
        want = b->alloc ? b->alloc : 4096;
        while (want - 1 < b->size + n) {
                if (want > SIZE_MAX / 2) {
                        b->oom = true;
                        return false;
                }
                want *= 2;
        }
        d = realloc(b->data, want);
        if (!d) {
                b->oom = true;
                return false;
        }
        b->data = d;
        b->alloc = want;
        return true;
}

static void buf_put(Buf *b, const char *s, size_t n) {
        if (!buf_reserve(b, n))
                return;
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = 0;
}

static void buf_puts(Buf *b, const char *s) {
        buf_put(b, s, strlen(s));
}

static _printf_(2, 3) void buf_printf(Buf *b, const char *fmt, ...) {
        char small[128];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->oom = true;
                return;
        }
        if ((size_t) n < sizeof(small)) {
                buf_put(b, small, (size_t) n);
                return;
        }
        if (!buf_reserve(b, (size_t) n))
                return;
        va_start(ap, fmt);
        (void) vsnprintf(b->data + b->size, (size_t) n + 1, fmt, ap);
        va_end(ap);
        b->size += (size_t) n;
}

static bool byte_needs_escape(unsigned char c) {
        return c <= ' ' || c == 0x7f || c == '%' || c == ',';
}

static void buf_put_escaped(Buf *b, const char *s) {
        static const char hex[] = "0123456789ABCDEF";

        for (const char *p = s; *p; ) {
                const char *run = p;

                while (*p && !byte_needs_escape((unsigned char) *p))
                        p++;
                buf_put(b, run, (size_t) (p - run));
                if (*p) {
                        unsigned char c = (unsigned char) *p++;
                        char e[3] = { '%', hex[c >> 4], hex[c & 15] };
                        buf_put(b, e, sizeof(e));
                }
        }
}

static void buf_put_str(Buf *b, const char *key, const char *value) {
        if (!value)
                return;
        buf_printf(b, " %s=", key);
        buf_put_escaped(b, value);
}

static void buf_put_guid(Buf *b, const char *key, const BfeGuid *g) {
        char s[GUID_STRING_MAX];

        buf_printf(b, " %s=%s", key, guid_to_string(g, s));
}

static void buf_put_blob(Buf *b, const char *key, const Blob *blob) {
        static const char hex[] = "0123456789abcdef";
        const uint8_t *d = blob->data;

        if (blob->size == 0)
                return;
        buf_printf(b, " %s=", key);
        if (!buf_reserve(b, blob->size * 2))
                return;
        for (size_t i = 0; i < blob->size; i++) {
                b->data[b->size++] = hex[d[i] >> 4];
                b->data[b->size++] = hex[d[i] & 15];
        }
        b->data[b->size] = 0;
}

static void buf_put_common(Buf *b, const char *kind, const BfeGuid *key, const char *name, const char *description,
                           uint32_t flags, const Provider *provider, const Blob *provider_data) {
        buf_puts(b, kind);
        buf_put_guid(b, "key", key);
        buf_put_str(b, "name", name);
        buf_put_str(b, "description", description);
        buf_printf(b, " flags=0x%" PRIx32, flags);
        if (provider)
                buf_put_guid(b, "provider", &provider->key);
        buf_put_blob(b, "data", provider_data);
}

static void write_filter(Buf *b, const Filter *f) {
        const char *action = action_to_string(f->action);

        buf_put_common(b, "filter", &f->key, f->name, f->description, f->flags, f->provider, &f->provider_data);
        buf_printf(b, " layer=%s", wfp_layer_info(f->layer)->name);
        buf_put_guid(b, "sublayer", &f->sublayer->key);
        switch (f->weight_kind) {
        case WEIGHT_AUTO:
                buf_puts(b, " weight=auto");
                break;
        case WEIGHT_RANGE:
                buf_printf(b, " weight=range:%" PRIu64, f->weight);
                break;
        case WEIGHT_EXPLICIT:
                buf_printf(b, " weight=explicit:%" PRIu64, f->weight);
                break;
        }
        if (action)
                buf_printf(b, " action=%s", action);
        else
                buf_printf(b, " action=0x%" PRIx32, f->action);
        if (f->action == WFP_ACTION_CALLOUT_TERMINATING)
                buf_put_guid(b, "callout", &f->callout_key);
        if (f->context)
                buf_put_guid(b, "context", &f->context->key);
        for (size_t i = 0; i < f->n_conditions; i++) {
                const Condition *c = &f->conditions[i];

                buf_printf(b, " condition=%s,%u,", wfp_field_info(c->field)->name, (unsigned) c->match);
                buf_put_escaped(b, c->text ?: "");
        }
        buf_puts(b, "\n");
}

static bool is_persistent(uint32_t flags) {
        return flags & WFP_FLAG_PERSISTENT;
}

static bool filter_is_saved(const Filter *f) {
        return is_persistent(f->flags) && !f->engine_owned;
}

static bool sublayer_is_saved(const Sublayer *s) {
        return is_persistent(s->flags) && !s->builtin;
}

static int compare_filter_seq(const void *a, const void *b) {
        const Filter *fa = *(const Filter *const *) a, *fb = *(const Filter *const *) b;

        return fa->seq < fb->seq ? -1 : fa->seq > fb->seq;
}

/* The whole file for the engine's current state. */
static int serialize(const Engine *e, Buf *b) {
        _cleanup_(freep) const Filter **filters = NULL;
        size_t n_filters = 0, n_records = 0;
        Provider *ptail = NULL;
        ProviderContext *ctail = NULL;

        buf_printf(b, STORE_HEADER "%d\n", STORE_VERSION);

        /* providers and contexts are prepended as they are added: write them oldest first */
        for (Provider *p = engine_providers(e); p; p = p->next)
                ptail = p;
        for (Provider *p = ptail; p; p = p->prev) {
                if (!is_persistent(p->flags))
                        continue;
                buf_put_common(b, "provider", &p->key, p->name, p->description, p->flags, NULL, &p->provider_data);
                buf_puts(b, "\n");
                n_records++;
        }

        for (Sublayer *s = engine_sublayers(e); s; s = s->next) {
                if (!sublayer_is_saved(s))
                        continue;
                buf_put_common(b, "sublayer", &s->key, s->name, s->description, s->flags, s->provider,
                               &s->provider_data);
                buf_printf(b, " weight=%u\n", (unsigned) s->weight);
                n_records++;
        }

        for (ProviderContext *c = engine_provider_contexts(e); c; c = c->next)
                ctail = c;
        for (ProviderContext *c = ctail; c; c = c->prev) {
                if (!is_persistent(c->flags))
                        continue;
                buf_put_common(b, "context", &c->key, c->name, c->description, c->flags, c->provider,
                               &c->provider_data);
                buf_printf(b, " type=%" PRIu32, c->type);
                buf_put_blob(b, "context-data", &c->data);
                buf_puts(b, "\n");
                n_records++;
        }

        /* The engine list is in order of addition, except that an aborted delete relinks at
         * the end; seq is the true order, and the tie-breaker of equal weights. */
        for (Filter *f = engine_filters(e); f; f = f->next)
                if (filter_is_saved(f))
                        n_filters++;
        if (n_filters > 0) {
                size_t i = 0;

                filters = calloc(n_filters, sizeof(*filters));
                if (!filters)
                        return -ENOMEM;
                for (Filter *f = engine_filters(e); f; f = f->next)
                        if (filter_is_saved(f))
                                filters[i++] = f;
                qsort(filters, n_filters, sizeof(*filters), compare_filter_seq);
                for (i = 0; i < n_filters; i++)
                        write_filter(b, filters[i]);
                n_records += n_filters;
        }

        if (b->oom)
                return -ENOMEM;
        buf_printf(b, "end %zu %08" PRIx32 "\n", n_records, crc32_buf(b->data, b->size));
        return b->oom ? -ENOMEM : 0;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int write_tmp(Store *s, const Buf *b) {
        _cleanup_(closep) int fd = -1;
        int r;

        /* a fresh inode: nothing left over from a crash keeps its mode or its links */
        if (unlinkat(s->dir_fd, STORE_TMP_FILE, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = openat(s->dir_fd, STORE_TMP_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_all(fd, b->data, b->size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        return 0;
}

/**
 * store_prepare() - write the engine's persistent objects to <dir>/state.tmp, durably.
 * @s: the store
 * @e: the engine, usually inside the transaction about to be committed: its lists already
 *     show the transaction's adds and deletes
 *
 * <dir>/state is not touched; store_commit() puts the new file in place, store_discard()
 * throws it away. Every reference of a persistent object is to a persistent or built-in one
 * (the engine's lifetime rules refuse anything else), so what is written can be loaded.
 *
 * Return: 0, -ENOMEM, or the errno of a failed write.
 */
int store_prepare(Store *s, const Engine *e) {
        _cleanup_(buf_done) Buf b = {};
        int r;

        r = serialize(e, &b);
        if (r < 0)
                return r;
        r = write_tmp(s, &b);
        if (r < 0) {
                (void) unlinkat(s->dir_fd, STORE_TMP_FILE, 0);
                s->prepared = false;
                return r;
        }
        s->prepared = true;
        return 0;
}

/**
 * store_commit() - rename the prepared state.tmp over state and fsync the directory.
 *
 * Return: 0; -EBADE without a store_prepare() before; -errno of rename (the old state file
 * and state.tmp are as they were: call store_discard()) or of the directory fsync (the new
 * file is in place, but may not survive a power cut).
 */
int store_commit(Store *s) {
        if (!s->prepared)
                return -EBADE;
        if (renameat(s->dir_fd, STORE_TMP_FILE, s->dir_fd, STORE_FILE) < 0)
                return -errno;
        s->prepared = false;
        if (fsync(s->dir_fd) < 0)
                return -errno;
        return 0;
}

void store_discard(Store *s) {
        (void) unlinkat(s->dir_fd, STORE_TMP_FILE, 0);
        s->prepared = false;
}

bool store_changes_touch_persistent(const Engine *e) {
        const Change *changes;
        size_t n;

        changes = engine_changes(e, &n);
        for (size_t i = 0; i < n; i++) {
                const Change *c = &changes[i];

                switch (c->kind) {
                case OBJECT_PROVIDER:
                        if (is_persistent(((const Provider *) c->object)->flags))
                                return true;
                        break;
                case OBJECT_SUBLAYER:
                        if (sublayer_is_saved(c->object))
                                return true;
                        break;
                case OBJECT_PROVIDER_CONTEXT:
                        if (is_persistent(((const ProviderContext *) c->object)->flags))
                                return true;
                        break;
                case OBJECT_FILTER:
                        if (filter_is_saved(c->object))
                                return true;
                        break;
                case _OBJECT_KIND_MAX:
                        break;
                }
        }
        return false;
}

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct TextField {
        char *key;
        char *value;                    /* raw, escaped; decoded in place when read */
        bool used;
} TextField;

typedef struct Loader {
        const char *path;
        unsigned long line;             /* 0: the message is about the whole file */
        char *error;                    /* the first failure's message */
        TextField fields[STORE_FIELDS_MAX];
        size_t n_fields;
} Loader;

static _printf_(3, 4) int loader_fail(Loader *l, int r, const char *fmt, ...) {
        _cleanup_(freep) char *msg = NULL;
        va_list ap;
        int k;

        if (l->error)
                return r;
        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return r;
        if (l->line > 0)
                k = asprintf(&l->error, "%s:%lu: %s", l->path, l->line, msg);
        else
                k = asprintf(&l->error, "%s: %s", l->path, msg);
        if (k < 0)
                l->error = NULL;
        return r;
}

/* Decodes %XX in place. */
static int unescape(Loader *l, const char *key, char *s) {
        char *w = s;

        for (const char *p = s; *p; p++) {
                if ((unsigned char) *p < ' ' || *p == 0x7f)
                        return loader_fail(l, -EBADMSG, "field '%s' has an unescaped control character", key);
                if (*p != '%') {
                        *w++ = *p;
                        continue;
                }
                int hi = unhexchar(p[1]), lo = hi >= 0 ? unhexchar(p[2]) : -1;
                if (hi < 0 || lo < 0)
                        return loader_fail(l, -EBADMSG, "field '%s' has a bad escape (%%XX expected)", key);
                if (hi == 0 && lo == 0)
                        return loader_fail(l, -EBADMSG, "field '%s' contains a NUL byte (%%00)", key);
                *w++ = (char) (hi << 4 | lo);
                p += 2;
        }
        *w = 0;
        return 0;
}

/* Splits "kind key=value key=value" in place into l->fields. */
static int split_fields(Loader *l, char *line, char **ret_kind) {
        char *p = line, *kind;

        l->n_fields = 0;
        kind = strsep(&p, " ");
        if (!*kind)
                return loader_fail(l, -EBADMSG, "malformed record: empty record type");
        while (p) {
                char *token = strsep(&p, " "), *eq;

                if (!*token)
                        return loader_fail(l, -EBADMSG, "malformed record: an empty field (double or trailing space)");
                eq = strchr(token, '=');
                if (!eq || eq == token)
                        return loader_fail(l, -EBADMSG, "malformed field '%.40s': not KEY=VALUE", token);
                if (l->n_fields >= STORE_FIELDS_MAX)
                        return loader_fail(l, -EBADMSG, "more than %d fields", STORE_FIELDS_MAX);
                *eq = 0;
                l->fields[l->n_fields++] = (TextField) { .key = token, .value = eq + 1 };
        }
        *ret_kind = kind;
        return 0;
}

/* The one field named @key: NULL when absent (an error when @required), an error when repeated. */
static int field_get(Loader *l, const char *key, bool required, char **ret) {
        TextField *found = NULL;

        for (size_t i = 0; i < l->n_fields; i++) {
                if (!streq(l->fields[i].key, key))
                        continue;
                if (found)
                        return loader_fail(l, -EBADMSG, "field '%s' appears twice", key);
                found = &l->fields[i];
        }
        if (!found) {
                *ret = NULL;
                return required ? loader_fail(l, -EBADMSG, "field '%s' is missing", key) : 0;
        }
        found->used = true;
        *ret = found->value;
        return 0;
}

static int get_str(Loader *l, const char *key, bool required, const char **ret) {
        char *v = NULL;
        int r;

        r = field_get(l, key, required, &v);
        if (r < 0)
                return r;
        if (v) {
                r = unescape(l, key, v);
                if (r < 0)
                        return r;
        }
        *ret = v;
        return 0;
}

static int get_guid(Loader *l, const char *key, bool required, BfeGuid *ret, bool *ret_has) {
        char *v = NULL;
        int r;

        r = field_get(l, key, required, &v);
        if (r < 0)
                return r;
        if (ret_has)
                *ret_has = v;
        if (!v) {
                *ret = (BfeGuid) {};
                return 0;
        }
        if (guid_from_string(v, ret) < 0 || guid_is_null(ret))
                return loader_fail(l, -EBADMSG, "field '%s': '%.40s' is not a GUID", key, v);
        return 0;
}

/* Strict unsigned numbers: digits only (and 0x for base 16), no sign, no spaces. */
static int parse_u64(const char *s, int base, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (base == 16) {
                if (strncmp(s, "0x", 2) != 0)
                        return -EINVAL;
                s += 2;
        }
        if (!*s || unhexchar(*s) < 0 || (base == 10 && !(*s >= '0' && *s <= '9')))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, base);
        if (errno != 0 || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int get_u64(Loader *l, const char *key, int base, uint64_t max, uint64_t *ret) {
        char *v = NULL;
        int r;

        r = field_get(l, key, true, &v);
        if (r < 0)
                return r;
        if (parse_u64(v, base, max, ret) < 0)
                return loader_fail(l, -EBADMSG, "field '%s': '%.40s' is not a %s number up to %" PRIu64, key, v,
                                   base == 16 ? "0x hexadecimal" : "decimal", max);
        return 0;
}

static int get_u32(Loader *l, const char *key, int base, uint32_t *ret) {
        uint64_t v;
        int r;

        r = get_u64(l, key, base, UINT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint32_t) v;
        return 0;
}

/* Decodes hex in place: the blob points into the line, which outlives the engine call. */
static int get_blob(Loader *l, const char *key, Blob *ret) {
        char *v = NULL;
        size_t n;
        int r;

        r = field_get(l, key, false, &v);
        if (r < 0)
                return r;
        *ret = (Blob) {};
        if (!v)
                return 0;
        n = strlen(v);
        if (n == 0 || n % 2 != 0)
                return loader_fail(l, -EBADMSG, "field '%s' is not hex bytes", key);
        for (size_t i = 0; i < n / 2; i++) {
                int hi = unhexchar(v[2 * i]), lo = unhexchar(v[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return loader_fail(l, -EBADMSG, "field '%s' is not hex bytes", key);
                v[i] = (char) (hi << 4 | lo);
        }
        *ret = (Blob) { .data = (uint8_t *) v, .size = n / 2 };
        return 0;
}

static int check_unused(Loader *l) {
        for (size_t i = 0; i < l->n_fields; i++)
                if (!l->fields[i].used)
                        return loader_fail(l, -EBADMSG, "unknown field '%.40s'", l->fields[i].key);
        return 0;
}

/* The fields every record has: key, name, description, flags, provider, data. */
typedef struct Common {
        BfeGuid key;
        const char *name;
        const char *description;
        uint32_t flags;
        bool has_provider;
        BfeGuid provider_key;
        Blob provider_data;
} Common;

static int get_common(Loader *l, bool with_provider, Common *ret) {
        int r;

        r = get_guid(l, "key", true, &ret->key, NULL);
        if (r < 0)
                return r;
        r = get_str(l, "name", true, &ret->name);
        if (r < 0)
                return r;
        r = get_str(l, "description", false, &ret->description);
        if (r < 0)
                return r;
        r = get_u32(l, "flags", 16, &ret->flags);
        if (r < 0)
                return r;
        if (with_provider) {
                r = get_guid(l, "provider", false, &ret->provider_key, &ret->has_provider);
                if (r < 0)
                        return r;
        }
        r = get_blob(l, "data", &ret->provider_data);
        if (r < 0)
                return r;
        return 0;
}

/* A name for messages: the decoded name, with control characters shown as %XX. */
static const char *printable(const char *s, char *buf, size_t size) {
        size_t o = 0;

        for (const char *p = s; *p && o + 4 < size; p++) {
                unsigned char c = (unsigned char) *p;
                if (c < ' ' || c == 0x7f)
                        o += (size_t) snprintf(buf + o, size - o, "%%%02X", c);
                else
                        buf[o++] = (char) c;
        }
        buf[o] = 0;
        return buf;
}

static int check_record(Loader *l, const char *kind, const Common *c) {
        char name[128];
        int r;

        r = check_unused(l);
        if (r < 0)
                return r;
        if (!is_persistent(c->flags))
                return loader_fail(l, -EBADMSG, "%s '%s' is not marked persistent (flags 0x%" PRIx32 ")", kind,
                                   printable(c->name, name, sizeof(name)), c->flags);
        return 0;
}

static int engine_failed(Loader *l, int r, const EngineError *err, const char *kind, const char *object_name) {
        char name[128];

        printable(object_name, name, sizeof(name));
        if (wfp_code_from_ret(r) != 0)
                return loader_fail(l, r, "%s '%s': %s: %s", kind, name, bfe_strerror(r), err->message);
        return loader_fail(l, r, "%s '%s': %s", kind, name, bfe_strerror(r));
}

static int load_provider(Loader *l, Engine *e) {
        EngineError err = {};
        Common c = {};
        int r;

        r = get_common(l, false, &c);
        if (r < 0)
                return r;
        r = check_record(l, "provider", &c);
        if (r < 0)
                return r;
        ProviderSpec spec = {
                .key = c.key,
                .name = (char *) c.name,
                .description = (char *) c.description,
                .flags = c.flags,
                .provider_data = c.provider_data,
        };
        r = engine_add_provider(e, &spec, &err, NULL);
        if (r < 0)
                return engine_failed(l, r, &err, "provider", c.name);
        return 0;
}

static int load_sublayer(Loader *l, Engine *e) {
        EngineError err = {};
        Common c = {};
        uint64_t weight;
        int r;

        r = get_common(l, true, &c);
        if (r < 0)
                return r;
        r = get_u64(l, "weight", 10, UINT16_MAX, &weight);
        if (r < 0)
                return r;
        r = check_record(l, "sublayer", &c);
        if (r < 0)
                return r;
        SublayerSpec spec = {
                .key = c.key,
                .name = (char *) c.name,
                .description = (char *) c.description,
                .flags = c.flags,
                .provider_key = c.provider_key,
                .provider_data = c.provider_data,
                .weight = (uint16_t) weight,
        };
        r = engine_add_sublayer(e, &spec, &err, NULL);
        if (r < 0)
                return engine_failed(l, r, &err, "sublayer", c.name);
        return 0;
}

static int load_context(Loader *l, Engine *e) {
        EngineError err = {};
        Common c = {};
        uint32_t type;
        Blob data;
        int r;

        r = get_common(l, true, &c);
        if (r < 0)
                return r;
        r = get_u32(l, "type", 10, &type);
        if (r < 0)
                return r;
        r = get_blob(l, "context-data", &data);
        if (r < 0)
                return r;
        r = check_record(l, "provider context", &c);
        if (r < 0)
                return r;
        ProviderContextSpec spec = {
                .key = c.key,
                .name = (char *) c.name,
                .description = (char *) c.description,
                .flags = c.flags,
                .provider_key = c.provider_key,
                .provider_data = c.provider_data,
                .type = type,
                .data = data,
        };
        r = engine_add_provider_context(e, &spec, &err, NULL);
        if (r < 0)
                return engine_failed(l, r, &err, "provider context", c.name);
        return 0;
}

static int get_weight(Loader *l, BfeWeightKind *ret_kind, uint64_t *ret) {
        const char *num;
        char *v = NULL;
        int r;

        r = field_get(l, "weight", true, &v);
        if (r < 0)
                return r;
        *ret = 0;
        if (streq(v, "auto")) {
                *ret_kind = BFE_WEIGHT_AUTO;
                return 0;
        }
        if (strncmp(v, "range:", 6) == 0) {
                *ret_kind = BFE_WEIGHT_RANGE;
                num = v + 6;
        } else if (strncmp(v, "explicit:", 9) == 0) {
                *ret_kind = BFE_WEIGHT_EXPLICIT;
                num = v + 9;
        } else
                num = NULL;
        if (!num || parse_u64(num, 10, UINT64_MAX, ret) < 0)
                return loader_fail(l, -EBADMSG, "field 'weight': '%.40s' is not auto, range:N or explicit:N", v);
        return 0;
}

static int get_action(Loader *l, uint32_t *ret) {
        uint64_t v;
        char *s;
        int r;

        r = field_get(l, "action", true, &s);
        if (r < 0)
                return r;
        if (streq(s, "block"))
                *ret = WFP_ACTION_BLOCK;
        else if (streq(s, "permit"))
                *ret = WFP_ACTION_PERMIT;
        else if (streq(s, "callout"))
                *ret = WFP_ACTION_CALLOUT_TERMINATING;
        else if (parse_u64(s, 16, UINT32_MAX, &v) >= 0)
                *ret = (uint32_t) v; /* the engine judges it */
        else
                return loader_fail(l, -EBADMSG, "field 'action': '%.40s' is not block, permit or callout", s);
        return 0;
}

/* Every condition=FIELD,MATCH,TEXT field, in order. */
static int get_conditions(Loader *l, ConditionSpec *conditions, size_t *ret_n) {
        size_t n = 0;
        int r;

        for (size_t i = 0; i < l->n_fields; i++) {
                char *field, *match, *text, *p;
                uint64_t m;

                if (!streq(l->fields[i].key, "condition"))
                        continue;
                l->fields[i].used = true;
                p = l->fields[i].value;
                field = strsep(&p, ",");
                match = p ? strsep(&p, ",") : NULL;
                text = p;
                if (!match || !text)
                        return loader_fail(l, -EBADMSG, "field 'condition' is not FIELD,MATCH,VALUE");
                r = unescape(l, "condition", field);
                if (r < 0)
                        return r;
                r = unescape(l, "condition", text);
                if (r < 0)
                        return r;
                if (parse_u64(match, 10, UINT32_MAX, &m) < 0)
                        return loader_fail(l, -EBADMSG, "condition %s: match type '%.20s' is not a number", field,
                                           match);
                conditions[n++] = (ConditionSpec) { .field = field, .match = (uint32_t) m, .value = text };
        }
        *ret_n = n;
        return 0;
}

static int load_filter(Loader *l, Engine *e) {
        ConditionSpec conditions[STORE_FIELDS_MAX];
        EngineError err = {};
        Common c = {};
        FilterSpec spec = {};
        const char *layer;
        int r;

        r = get_common(l, true, &c);
        if (r < 0)
                return r;
        r = get_str(l, "layer", true, &layer);
        if (r < 0)
                return r;
        r = get_guid(l, "sublayer", true, &spec.sublayer_key, NULL);
        if (r < 0)
                return r;
        r = get_weight(l, &spec.weight_kind, &spec.weight);
        if (r < 0)
                return r;
        r = get_action(l, &spec.action);
        if (r < 0)
                return r;
        r = get_guid(l, "callout", false, &spec.callout_key, NULL);
        if (r < 0)
                return r;
        r = get_guid(l, "context", false, &spec.provider_context_key, NULL);
        if (r < 0)
                return r;
        r = get_conditions(l, conditions, &spec.n_conditions);
        if (r < 0)
                return r;
        r = check_record(l, "filter", &c);
        if (r < 0)
                return r;
        spec.key = c.key;
        spec.name = (char *) c.name;
        spec.description = (char *) c.description;
        spec.flags = c.flags;
        spec.provider_key = c.provider_key;
        spec.provider_data = c.provider_data;
        spec.layer = (char *) layer;
        spec.conditions = conditions;
        r = engine_add_filter(e, &spec, &err, NULL);
        if (r < 0)
                return engine_failed(l, r, &err, "filter", c.name);
        return 0;
}

static int load_record(Loader *l, Engine *e, char *line) {
        char *kind = NULL;
        int r;

        r = split_fields(l, line, &kind);
        if (r < 0)
                return r;
        if (streq(kind, "provider"))
                return load_provider(l, e);
        if (streq(kind, "sublayer"))
                return load_sublayer(l, e);
        if (streq(kind, "context"))
                return load_context(l, e);
        if (streq(kind, "filter"))
                return load_filter(l, e);
        return loader_fail(l, -EBADMSG, "unknown record type '%.40s'", kind);
}

/* Checks the header: "bfed-state VERSION". */
static int check_header(Loader *l, const char *data, size_t size) {
        const char *nl = memchr(data, '\n', size);
        size_t n = nl ? (size_t) (nl - data) : size, hlen = strlen(STORE_HEADER);
        uint64_t version;
        char digits[21];

        l->line = 1;
        if (!nl && n <= hlen && memcmp(data, STORE_HEADER, n) == 0)
                return loader_fail(l, -EBADMSG, "file is truncated (the header line is incomplete)");
        if (n <= hlen || memcmp(data, STORE_HEADER, hlen) != 0 || n - hlen >= sizeof(digits))
                return loader_fail(l, -EBADMSG, "not a bfed state file (the first line is not 'bfed-state VERSION')");
        memcpy(digits, data + hlen, n - hlen);
        digits[n - hlen] = 0;
        if (parse_u64(digits, 10, UINT32_MAX, &version) < 0)
                return loader_fail(l, -EBADMSG, "not a bfed state file (the first line is not 'bfed-state VERSION')");
        if (version > STORE_VERSION)
                return loader_fail(l, -EPROTONOSUPPORT, "state version %" PRIu64 " is newer than this bfed (%d)",
                                   version, STORE_VERSION);
        if (version != STORE_VERSION)
                return loader_fail(l, -EBADMSG, "state version %" PRIu64 " is not valid", version);
        if (!nl)
                return loader_fail(l, -EBADMSG, "file is truncated (the header line is incomplete)");
        return 0;
}

/* Checks the end record "end RECORDS CRC" against the rest; returns the line count and the
 * offset of the end line. */
static int check_end(Loader *l, const char *data, size_t size, unsigned long *ret_lines, size_t *ret_end) {
        unsigned long lines = 0;
        uint64_t records, crc;
        size_t start;
        char buf[64], hex[16], *p, *count, *sum;

        for (const char *q = data; (q = memchr(q, '\n', (size_t) (data + size - q))); q++)
                lines++;
        if (data[size - 1] != '\n') {
                l->line = lines + 1;
                return loader_fail(l, -EBADMSG, "file is truncated (line %lu is incomplete)", lines + 1);
        }
        if (lines < 2) {
                l->line = 2;
                return loader_fail(l, -EBADMSG, "file is truncated (no end record)");
        }
        for (start = size - 1; start > 0 && data[start - 1] != '\n'; start--)
                ;
        l->line = lines;
        if (strncmp(data + start, "end", 3) != 0)
                return loader_fail(l, -EBADMSG, "file is truncated (no end record after line %lu)", lines);
        if (size - 1 - start >= sizeof(buf))
                return loader_fail(l, -EBADMSG, "malformed end record (not 'end RECORDS CRC')");
        memcpy(buf, data + start, size - 1 - start);
        buf[size - 1 - start] = 0;
        p = buf;
        if (!streq(strsep(&p, " "), "end"))
                return loader_fail(l, -EBADMSG, "malformed end record (not 'end RECORDS CRC')");
        count = p ? strsep(&p, " ") : NULL;
        sum = p;
        if (!count || !sum || strlen(sum) != 8 || parse_u64(count, 10, ULONG_MAX, &records) < 0)
                return loader_fail(l, -EBADMSG, "malformed end record (not 'end RECORDS CRC')");
        snprintf(hex, sizeof(hex), "0x%s", sum);
        if (parse_u64(hex, 16, UINT32_MAX, &crc) < 0)
                return loader_fail(l, -EBADMSG, "malformed end record (not 'end RECORDS CRC')");
        if (crc != crc32_buf(data, start))
                return loader_fail(l, -EBADMSG, "checksum mismatch: the end record says %08" PRIx64 ", the content "
                                   "has %08" PRIx32 " (the file is corrupt)", crc, crc32_buf(data, start));
        if (records != lines - 2)
                return loader_fail(l, -EBADMSG, "file is truncated (expected %" PRIu64 " records, found %lu)",
                                   records, lines - 2);
        *ret_lines = lines;
        *ret_end = start;
        return 0;
}

/* Loads @data (@size bytes, NUL-terminated, changed in place) into @e, all or nothing. */
static int load_data(Loader *l, Engine *e, char *data, size_t size) {
        unsigned long lines = 0, n = 0;
        size_t end = 0;
        char *p;
        int r;

        if (size == 0) {
                l->line = 1;
                return loader_fail(l, -EBADMSG, "file is truncated (it is empty)");
        }
        r = check_header(l, data, size);
        if (r < 0)
                return r;
        r = check_end(l, data, size, &lines, &end);
        if (r < 0)
                return r;

        l->line = 0;
        r = engine_begin(e);
        if (r < 0)
                return loader_fail(l, r, "cannot load: the engine is in a transaction");

        data[end] = 0;
        p = strchr(data, '\n') + 1;    /* after the header */
        for (l->line = 2; *p; l->line++) {
                char *nl = strchr(p, '\n'); /* every line up to the end record ends in one */

                *nl = 0;
                if (strlen(p) != (size_t) (nl - p)) { /* cannot happen with a good CRC, but be exact */
                        r = loader_fail(l, -EBADMSG, "line contains a NUL byte");
                        break;
                }
                r = load_record(l, e, p);
                if (r < 0)
                        break;
                n++;
                p = nl + 1;
        }
        if (r < 0) {
                engine_abort(e);
                return r;
        }
        engine_commit(e);
        return (int) (n > INT_MAX ? INT_MAX : n);
}

/* Reads a whole regular file, NUL-terminated; -ENOENT when it does not exist. */
static int read_file(Loader *l, char **ret_data, size_t *ret_size) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *data = NULL;
        struct stat st;
        size_t size = 0;

        fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return -ENOENT;
                return loader_fail(l, -errno, "cannot open: %s", strerror(errno));
        }
        if (fstat(fd, &st) < 0)
                return loader_fail(l, -errno, "cannot stat: %s", strerror(errno));
        if (!S_ISREG(st.st_mode))
                return loader_fail(l, -EINVAL, "not a regular file");
        if ((uint64_t) st.st_size > STORE_FILE_MAX)
                return loader_fail(l, -EFBIG, "file is larger than %zu bytes", STORE_FILE_MAX);
        data = malloc((size_t) st.st_size + 1);
        if (!data)
                return loader_fail(l, -ENOMEM, "cannot read: %s", strerror(ENOMEM));
        while (size < (size_t) st.st_size) {
                ssize_t k = read(fd, data + size, (size_t) st.st_size - size);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return loader_fail(l, -errno, "cannot read: %s", strerror(errno));
                }
                if (k == 0)
                        break; /* shrank under us: what we have is judged like any truncated file */
                size += (size_t) k;
        }
        data[size] = 0;
        *ret_data = TAKE_PTR(data);
        *ret_size = size;
        return 0;
}

static int load_path(const char *path, Engine *e, bool must_exist, char **ret_error) {
        _cleanup_(freep) char *data = NULL;
        Loader l = { .path = path };
        size_t size = 0;
        int r;

        r = read_file(&l, &data, &size);
        if (r == -ENOENT && !must_exist)
                return 0;
        if (r == -ENOENT)
                r = loader_fail(&l, r, "cannot open: %s", strerror(ENOENT));
        if (r >= 0)
                r = load_data(&l, e, data, size);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(l.error);
                free(l.error);
                return r;
        }
        return r;
}

/**
 * store_load() - restore the persistent objects of <dir>/state into @e.
 * @s: the store
 * @e: the engine, not in a transaction (at start: empty)
 * @ret_error: on failure, "FILE:LINE: reason" (or "FILE: reason"); may be NULL
 *
 * All or nothing, in one engine transaction this function begins and commits (the caller
 * then installs the ruleset). The file is only read.
 *
 * Return: the number of objects loaded (0 when there is no state file), -EBADMSG for a
 * truncated, corrupt or malformed file, -EPROTONOSUPPORT for a newer version, the engine's
 * error (a WFP error) for a record it refuses, or another negative errno.
 */
int store_load(Store *s, Engine *e, char **ret_error) {
        return load_path(s->path, e, false, ret_error);
}

int store_check_file(const char *path, char **ret_error) {
        _cleanup_(engine_freep) Engine *e = NULL;
        int r;

        r = engine_new(&e);
        if (r < 0)
                return r;
        return load_path(path, e, true, ret_error);
}

/* ---- the store ---------------------------------------------------------------------------- */

/* mkdir -p, the last component 0700. */
static int mkdir_parents(const char *dir) {
        _cleanup_(freep) char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
        }
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int store_new(const char *dir, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        int r;

        if (!dir || !*dir)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->dir_fd = -1;
        s->dir = strdup(dir);
        if (!s->dir || asprintf(&s->path, "%s/%s", dir, STORE_FILE) < 0) {
                s->path = NULL;
                return -ENOMEM;
        }
        r = mkdir_parents(dir);
        if (r < 0)
                return r;
        s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0)
                return -errno;
        *ret = TAKE_PTR(s);
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        if (s->prepared)
                store_discard(s);
        if (s->dir_fd >= 0)
                (void) close(s->dir_fd);
        free(s->path);
        free(s->dir);
        free(s);
        return NULL;
}

const char *store_path(const Store *s) {
        return s->path;
}
