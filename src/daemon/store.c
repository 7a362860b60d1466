/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store.c — the persistence store: the engine's persistent objects in <statedir>/state.
 *
 * THE FILE FORMAT (version 2; version 1 is read too). Text, one record per line, every line
 * ending in '\n':
 *
 *   bfed-state 2
 *   provider key=GUID name=S [description=S] flags=0xX [data=HEX]
 *   sublayer key=GUID name=S [description=S] flags=0xX [provider=GUID] [data=HEX] weight=N
 *   context key=GUID name=S [description=S] flags=0xX [provider=GUID] [data=HEX] type=N [context-data=HEX]
 *   filter key=GUID name=S [description=S] flags=0xX [provider=GUID] [data=HEX] layer=LAYER
 *          sublayer=GUID weight=auto|range:N|explicit:N action=block|permit|callout [callout=GUID]
 *          [context=GUID] [condition=FIELD,MATCH,S[,S]]...                      (all on one line)
 *   end RECORDS CRC
 *
 * - Fields are separated by exactly one space and are KEY=VALUE; a field in [] is left out when
 *   the object has none (no description, no provider, empty data). Keys may come in any order;
 *   an unknown or repeated key (condition= excepted) is an error.
 * - S is a string with every byte <= 0x20, 0x7f, '%' and ',' written as %XX (upper-case hex),
 *   so names with spaces, tabs, newlines, commas and percent signs survive; other bytes,
 *   UTF-8 included, are written as they are. Decoded, every S is valid UTF-8 (it goes on the
 *   bus). HEX is a blob in lower-case hex.
 * - flags is the WFP flags word in hex; the persistent flag 0x1 is always set. weight= of a
 *   sublayer and type= of a context are decimal. layer= and FIELD are the WFP names without
 *   FWPM_LAYER_ / FWPM_CONDITION_; MATCH is the FWP_MATCH_TYPE number; the condition's value is
 *   the text the caller gave (the engine parses it again on load) — except ALE_USER_ID, whose
 *   value is the uid the name resolved to when the filter was added, followed by ",NAME" when
 *   the caller gave a name: loading never needs NSS, and a deleted user cannot stop a start.
 *   (Version 1 kept the name alone, resolved again at load: that is the one difference, and
 *   version 1 files still load when their users exist.)
 * - Order: providers, sublayers (evaluation order), provider contexts, then filters in order
 *   of addition, so every reference points backwards and equal weights keep their tie order.
 *   Filter ids are runtime ids and are not saved. Neither the built-in universal sublayer nor
 *   the engine-owned IKE/AuthIP exemption filters are saved: engine_add_filter() re-derives
 *   the exemptions when an MM policy filter comes back.
 * - The last line carries the number of records between header and end line, and the CRC-32
 *   (IEEE, as zlib's crc32(), 8 lower-case hex digits) of every byte before the end line. A
 *   file cut at any byte either lacks its final newline or lacks the end record; a flipped byte
 *   changes the CRC.
 *
 * LOADING: FAIL CLOSED, NEVER EMPTY-HANDED. A firewall that refuses to start over one bad
 * record leaves the host with no table at all, which is the opposite of closed; one that
 * starts with nothing and says little hides the loss. So a load enforces as much of the stored
 * policy as can be trusted, and says loudly what it could not:
 * - Record by record, each in its own engine savepoint, with the engine's public add functions
 *   (it checks references and values exactly as for a D-Bus caller). A record that the parser
 *   or the engine refuses is skipped; so is, by the engine's own checks, every later record
 *   that references it. Each skip is returned as "FILE:LINE: reason" (the daemon logs it at
 *   error level), and its line is appended to <dir>/state.rejected after a comment line with
 *   the time and the reason, for the admin to fix and re-add.
 * - Damage to the file as a whole — a header that is not "bfed-state 1|2", a missing or cut end
 *   record, a count or CRC that disagrees, an empty file — does not stop the start either:
 *   every complete record that parses and that the engine accepts is loaded (with a bad CRC a
 *   record may differ from what was saved: the log says so, and the original is kept), and the
 *   damaged file is first hard-linked as <dir>/state.damaged-TIME, so that nothing overwrites
 *   it. A file larger than 1 GiB is kept the same way, and nothing is loaded from it.
 * - Something that is not a regular file at <dir>/state (a FIFO, whose open() would block the
 *   start for good; a symbolic link; a directory) is never followed nor opened blocking: it is
 *   moved to <dir>/state.damaged-TIME and bfed starts without persistent objects, loudly. bfed
 *   replaces the state file by rename on every save, so such a thing is never its own.
 * - After any of these, the state file is rewritten with what was loaded: the next start does
 *   not report the same problems again, and the file says what is in force.
 * - A newer version (a header above STORE_VERSION) is the one refusal: bfed does not start,
 *   and the file is untouched, because an older bfed must not rewrite a newer file. An engine
 *   in a transaction, no memory, an unreadable file, or failing to keep a damaged file aside
 *   also refuse, adding nothing.
 * - bfed --check-state FILE (store_check_file()) reports the same problems without writing.
 * Saving is write-to-temp, fsync, rename, fsync the directory, split in prepare/commit/discard
 * around the kernel commit.
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
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "guid.h"
#include "log.h"
#include "macro.h"
#include "store.h"
#include "utf8.h"
#include "wfp.h"

#define STORE_FILE "state"
#define STORE_REJECTED_FILE "state.rejected"
#define STORE_DAMAGED_PREFIX "state.damaged-"
#define STORE_TMP_FILE "state.tmp"
#define STORE_HEADER "bfed-state "
#define STORE_FILE_MAX ((size_t) 1 << 30)                /* 1 GiB: far above 1,000,000 objects */
#define STORE_FIELDS_MAX (16 + ENGINE_CONDITIONS_MAX + 1) /* one condition too many reaches the engine */

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

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
                if (c->field == WFP_FIELD_ALE_USER_ID) {
                        /* what getpwnam() said when the filter was added: a restart needs no NSS
                         * and no longer depends on the user still existing */
                        char uid[16];
                        uint32_t v;

                        memcpy(&v, c->lo, sizeof(v));
                        snprintf(uid, sizeof(uid), "%" PRIu32, v);
                        buf_puts(b, uid);
                        if (c->text && !streq(c->text, uid)) {
                                buf_puts(b, ",");
                                buf_put_escaped(b, c->text);
                        }
                        continue;
                }
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

int store_format(const Engine *e, char **ret_data, size_t *ret_size) {
        _cleanup_(buf_done) Buf b = {};
        int r;

        r = serialize(e, &b);
        if (r < 0)
                return r;
        *ret_size = b.size;
        *ret_data = TAKE_PTR(b.data);
        return 0;
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
        unsigned version;               /* of the file's header (1 or 2) */
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
                /* it goes on the bus in every Enum, and sd-bus sends valid UTF-8 only */
                if (!utf8_is_valid(v))
                        return loader_fail(l, -EBADMSG, "field '%s' is not valid UTF-8 (bad Unicode)", key);
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

static bool is_decimal(const char *s) {
        return *s && strspn(s, "0123456789") == strlen(s);
}

/* Every condition=FIELD,MATCH,VALUE[,TEXT] field, in order; @texts[i] is TEXT or NULL. */
static int get_conditions(Loader *l, ConditionSpec *conditions, const char **texts, size_t *ret_n) {
        size_t n = 0;
        int r;

        for (size_t i = 0; i < l->n_fields; i++) {
                char *field, *match, *value, *text, *p;
                uint64_t m;

                if (!streq(l->fields[i].key, "condition"))
                        continue;
                l->fields[i].used = true;
                p = l->fields[i].value;
                field = strsep(&p, ",");
                match = p ? strsep(&p, ",") : NULL;
                value = p ? strsep(&p, ",") : NULL;
                text = p;
                if (!match || !value)
                        return loader_fail(l, -EBADMSG, "field 'condition' is not FIELD,MATCH,VALUE");
                r = unescape(l, "condition", field);
                if (r < 0)
                        return r;
                r = unescape(l, "condition", value);
                if (r < 0)
                        return r;
                if (text) {
                        r = unescape(l, "condition", text);
                        if (r < 0)
                                return r;
                }
                if (parse_u64(match, 10, UINT32_MAX, &m) < 0)
                        return loader_fail(l, -EBADMSG, "condition %s: match type '%.20s' is not a number", field,
                                           match);
                if (!utf8_is_valid(value) || (text && !utf8_is_valid(text)))
                        return loader_fail(l, -EBADMSG, "condition %s: the value is not valid UTF-8 (bad Unicode)",
                                           field);
                if (streq(field, "ALE_USER_ID") && l->version >= 2 && !is_decimal(value))
                        /* version 2 keeps the uid: loading must never need NSS */
                        return loader_fail(l, -EBADMSG, "condition ALE_USER_ID: '%.40s' is not a uid", value);
                if (text && (l->version < 2 || !streq(field, "ALE_USER_ID")))
                        return loader_fail(l, -EBADMSG, "condition %s: a fourth part (the user name given) is for "
                                           "ALE_USER_ID in version 2 only", field);
                texts[n] = text;
                conditions[n++] = (ConditionSpec) { .field = field, .match = (uint32_t) m, .value = value };
        }
        *ret_n = n;
        return 0;
}

static int load_filter(Loader *l, Engine *e) {
        ConditionSpec conditions[STORE_FIELDS_MAX];
        const char *texts[STORE_FIELDS_MAX];
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
        r = get_conditions(l, conditions, texts, &spec.n_conditions);
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
        r = engine_add_filter_texts(e, &spec, (const char *const *) texts, &err, NULL);
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

/* ---- loading a whole file: what is trusted, what is not --------------------------------- */

#define STORE_MESSAGES_MAX 100          /* problems listed one by one; the rest are counted */

/* A line that was not loaded. */
typedef struct Rejected {
        unsigned long line;
        size_t offset, size;            /* the line in the file, without its newline */
        char *why;                      /* "FILE:LINE: reason" */
} Rejected;

typedef struct LoadResult {
        unsigned long n_loaded;
        char *damage;                   /* "FILE[:LINE]: reason" about the file as a whole, or NULL */
        Rejected *rejected;
        size_t n_rejected, n_rejected_alloc;
} LoadResult;

static void load_result_done(LoadResult *res) {
        for (size_t i = 0; i < res->n_rejected; i++)
                free(res->rejected[i].why);
        free(res->rejected);
        free(res->damage);
        *res = (LoadResult) {};
}

/* The file-level damage just reported by loader_fail(); the first one counts. */
static int note_damage(Loader *l, LoadResult *res) {
        if (!l->error)
                return -ENOMEM;
        if (res->damage)
                free(TAKE_PTR(l->error));
        else
                res->damage = TAKE_PTR(l->error);
        return 0;
}

/* The line just refused (its reason in l->error) is not loaded. */
static int note_rejected(Loader *l, LoadResult *res, size_t offset, size_t size) {
        if (!l->error)
                return -ENOMEM;
        if (res->n_rejected == res->n_rejected_alloc) {
                size_t n = res->n_rejected_alloc ? res->n_rejected_alloc * 2 : 8;
                Rejected *r = reallocarray(res->rejected, n, sizeof(*r));

                if (!r)
                        return -ENOMEM;
                res->rejected = r;
                res->n_rejected_alloc = n;
        }
        res->rejected[res->n_rejected++] = (Rejected) {
                .line = l->line, .offset = offset, .size = size, .why = TAKE_PTR(l->error),
        };
        return 0;
}

/* Failures that are the record's fault: the parser's, and every refusal the engine explains
 * with a WFP error. Anything else (no memory) is not the record's fault and stops the load. */
static bool is_record_error(int r) {
        return r == -EBADMSG || wfp_code_from_ret(r) != 0;
}

/* The header "bfed-state VERSION": sets l->version and *ret_body (the offset after it).
 * Returns 0; -EPROTONOSUPPORT for a newer version (fatal: an older bfed must not touch a
 * newer file); -EBADMSG when it is damaged (the records are then read with either version's
 * rules, l->version 0). */
static int check_header(Loader *l, const char *data, size_t size, size_t *ret_body) {
        const char *nl = memchr(data, '\n', size);
        size_t n = nl ? (size_t) (nl - data) : size, hlen = strlen(STORE_HEADER);
        uint64_t version;
        char digits[21];

        l->line = 1;
        l->version = 0;
        *ret_body = nl ? n + 1 : size;
        if (!nl && n <= hlen && memcmp(data, STORE_HEADER, n) == 0)
                return loader_fail(l, -EBADMSG, "file is truncated (the header line is incomplete)");
        if (n <= hlen || memcmp(data, STORE_HEADER, hlen) != 0 || n - hlen >= sizeof(digits))
                return loader_fail(l, -EBADMSG, "not a bfed state file (the first line is not 'bfed-state VERSION')");
        memcpy(digits, data + hlen, n - hlen);
        digits[n - hlen] = 0;
        if (memchr(digits, 0, n - hlen) || parse_u64(digits, 10, UINT32_MAX, &version) < 0)
                return loader_fail(l, -EBADMSG, "not a bfed state file (the first line is not 'bfed-state VERSION')");
        if (version > STORE_VERSION)
                return loader_fail(l, -EPROTONOSUPPORT, "state version %" PRIu64 " is newer than this bfed (%d)",
                                   version, STORE_VERSION);
        if (version < 1)
                return loader_fail(l, -EBADMSG, "state version %" PRIu64 " is not valid", version);
        if (!nl)
                return loader_fail(l, -EBADMSG, "file is truncated (the header line is incomplete)");
        l->version = (unsigned) version;
        return 0;
}

static unsigned long count_lines(const char *p, const char *end) {
        unsigned long n = 0;

        while (p < end && (p = memchr(p, '\n', (size_t) (end - p)))) {
                n++;
                p++;
        }
        return n;
}

/* Checks the end record "end RECORDS CRC" and everything it vouches for. Sets *ret_records_end
 * to where the records stop: before the end record, before an incomplete last line, or at the
 * end of the file when there is no end record. Returns 0, or -EBADMSG with the damage in
 * l->error (the records before *ret_records_end are still worth reading). */
static int check_end(Loader *l, const char *data, size_t size, size_t body, size_t *ret_records_end) {
        unsigned long lines = count_lines(data, data + size), records;
        uint64_t count, crc;
        size_t start;
        char buf[64], hex[16], *p, *word, *n, *sum;

        *ret_records_end = size;
        if (data[size - 1] != '\n') {
                /* the incomplete last line is not a record (the caller rejects it) */
                for (start = size; start > body && data[start - 1] != '\n'; start--)
                        ;
                *ret_records_end = start;
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
        if (start < body || size - start < 4 || memcmp(data + start, "end ", 4) != 0)
                return loader_fail(l, -EBADMSG, "file is truncated (no end record after line %lu)", lines);
        *ret_records_end = start;
        if (size - 1 - start >= sizeof(buf) || memchr(data + start, 0, size - 1 - start))
                return loader_fail(l, -EBADMSG, "malformed end record (not 'end RECORDS CRC')");
        memcpy(buf, data + start, size - 1 - start);
        buf[size - 1 - start] = 0;
        p = buf;
        word = strsep(&p, " ");
        n = p ? strsep(&p, " ") : NULL;
        sum = p;
        if (!streq(word, "end") || !n || !sum || strlen(sum) != 8 || parse_u64(n, 10, ULONG_MAX, &count) < 0)
                return loader_fail(l, -EBADMSG, "malformed end record (not 'end RECORDS CRC')");
        snprintf(hex, sizeof(hex), "0x%s", sum);
        if (parse_u64(hex, 16, UINT32_MAX, &crc) < 0)
                return loader_fail(l, -EBADMSG, "malformed end record (not 'end RECORDS CRC')");
        if (crc != crc32_buf(data, start))
                return loader_fail(l, -EBADMSG, "checksum mismatch: the end record says %08" PRIx64 ", the content "
                                   "has %08" PRIx32 " (the file is corrupt)", crc, crc32_buf(data, start));
        records = count_lines(data + body, data + start);
        if (count != records)
                return loader_fail(l, -EBADMSG, "file is truncated (expected %" PRIu64 " records, found %lu)",
                                   count, records);
        return 0;
}

/*
 * Reads @data into @e, record by record, into @res: every record the parser and the engine
 * accept is added (each in its own savepoint, so a refused record leaves nothing behind);
 * every other line is noted in @res with its reason, and so is damage to the file as a whole.
 * Leaves the engine transaction open for the caller to commit or abort.
 *
 * Return: 0, or a fatal error in l->error (a newer version, an engine in a transaction, no
 * memory): then the engine transaction is not open.
 */
static int load_data(Loader *l, Engine *e, const char *data, size_t size, LoadResult *res) {
        _cleanup_(freep) char *scratch = NULL;
        size_t body = 0, records_end = 0, scratch_size = 0;
        int r;

        if (size == 0) {
                l->line = 1;
                (void) loader_fail(l, -EBADMSG, "file is truncated (it is empty)");
                r = note_damage(l, res);
                if (r < 0)
                        return r;
        } else {
                r = check_header(l, data, size, &body);
                if (r == -EPROTONOSUPPORT)
                        return r;
                if (r < 0 && (r = note_damage(l, res)) < 0)
                        return r;
                r = check_end(l, data, size, body, &records_end);
                if (r < 0 && (r = note_damage(l, res)) < 0)
                        return r;
        }

        l->line = 0;
        r = engine_begin(e);
        if (r < 0)
                return loader_fail(l, r, "cannot load: the engine is in a transaction");

        l->line = 1;
        for (size_t off = body; off < size;) {
                const char *nl = memchr(data + off, '\n', size - off);
                size_t len = (nl ? (size_t) (nl - data) : size) - off;
                size_t savepoint;

                l->line++;
                if (off >= records_end) {
                        /* after the records: the end record, or an incomplete last line */
                        if (!nl && !(len >= 3 && memcmp(data + off, "end", 3) == 0)) { /* a cut end record is no record */
                                (void) loader_fail(l, -EBADMSG, "incomplete line (the file is truncated)");
                                r = note_rejected(l, res, off, len);
                                if (r < 0)
                                        goto fail;
                        }
                        break;
                }
                if (len + 1 > scratch_size) {
                        char *b = realloc(scratch, len + 1);

                        if (!b) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        scratch = b;
                        scratch_size = len + 1;
                }
                /* parse a copy: the line itself stays as it was, for state.rejected */
                memcpy(scratch, data + off, len);
                scratch[len] = 0;
                off += len + 1;

                savepoint = engine_savepoint(e);
                if (memchr(scratch, 0, len))
                        r = loader_fail(l, -EBADMSG, "line contains a NUL byte");
                else
                        r = load_record(l, e, scratch);
                if (r >= 0) {
                        res->n_loaded++;
                        continue;
                }
                engine_rollback_to(e, savepoint);
                if (!is_record_error(r))
                        goto fail;
                r = note_rejected(l, res, off - len - 1, len);
                if (r < 0)
                        goto fail;
        }
        return 0;

fail:
        engine_abort(e);
        if (!l->error)
                (void) loader_fail(l, r, "cannot load: %s", bfe_strerror(r));
        return r;
}

/* "FILE:LINE: reason" of a load's damage and of every line not loaded, into @p. */
static int make_problems(const char *path, const LoadResult *res, StoreProblems *p) {
        size_t n = (res->damage ? 1 : 0) + MIN(res->n_rejected, (size_t) STORE_MESSAGES_MAX) + 1;

        if (!res->damage && res->n_rejected == 0)
                return 0;
        p->messages = calloc(n + 4, sizeof(char *)); /* + what store_load() did about them, + NULL */
        if (!p->messages)
                return -ENOMEM;
        p->n_skipped = res->n_rejected;
        p->damaged = res->damage;
        if (res->damage && !(p->messages[p->n_messages++] = strdup(res->damage)))
                return -ENOMEM;
        for (size_t i = 0; i < res->n_rejected && i < STORE_MESSAGES_MAX; i++)
                if (!(p->messages[p->n_messages++] = strdup(res->rejected[i].why)))
                        return -ENOMEM;
        if (res->n_rejected > STORE_MESSAGES_MAX &&
            asprintf(&p->messages[p->n_messages++], "%s: and %zu more records not loaded", path,
                     res->n_rejected - STORE_MESSAGES_MAX) < 0)
                return -ENOMEM;
        return 0;
}

static int problems_add(StoreProblems *p, const char *fmt, ...) _printf_(2, 3);
static int problems_add(StoreProblems *p, const char *fmt, ...) {
        char **m;
        va_list ap;
        int k;

        m = reallocarray(p->messages, p->n_messages + 2, sizeof(char *));
        if (!m)
                return -ENOMEM;
        p->messages = m;
        va_start(ap, fmt);
        k = vasprintf(&m[p->n_messages], fmt, ap);
        va_end(ap);
        if (k < 0) {
                m[p->n_messages] = NULL;
                return -ENOMEM;
        }
        m[++p->n_messages] = NULL;
        return 0;
}

void store_problems_done(StoreProblems *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_messages; i++)
                free(p->messages[i]);
        free(p->messages);
        *p = (StoreProblems) {};
}

static int fail_with(Loader *l, int r, char **ret_error) {
        if (!l->error)
                (void) loader_fail(l, r, "%s", bfe_strerror(r));
        if (ret_error)
                *ret_error = TAKE_PTR(l->error);
        free(TAKE_PTR(l->error));
        return r;
}

/* Parses @data into @e, with no side effects; the engine transaction is committed on success. */
static int load_buffer(Loader *l, Engine *e, const void *data, size_t size, LoadResult *res,
                       StoreProblems *ret_problems, char **ret_error) {
        StoreProblems p = {};
        int r;

        r = load_data(l, e, data, size, res);
        if (r < 0)
                return fail_with(l, r, ret_error);
        r = make_problems(l->path, res, &p);
        if (r < 0) {
                store_problems_done(&p);
                engine_abort(e);
                return fail_with(l, r, ret_error);
        }
        *ret_problems = p;
        return 0;
}

/**
 * store_load_buffer() - read a state file's content into @e, without touching any file.
 * @name: the file's name, for messages
 * @data, @size: the content (need not be NUL-terminated)
 * @e: the engine, not in a transaction
 * @ret_problems: what was not loaded, and why (empty when everything was)
 * @ret_error: on failure, "NAME[:LINE]: reason"; may be NULL
 *
 * Record by record: each record the parser and the engine accept is added, any other is
 * skipped with a message, and damage to the whole file (header, truncation, checksum,
 * count) is reported while every complete record is still read. One engine transaction,
 * committed here. The fuzzers' entry point, and the core of the two functions below.
 *
 * Return: the number of objects loaded; -EPROTONOSUPPORT for a newer version (nothing is
 * added), the engine's error when it is in a transaction, or -ENOMEM.
 */
int store_load_buffer(const char *name, const void *data, size_t size, Engine *e, StoreProblems *ret_problems,
                      char **ret_error) {
        _cleanup_(load_result_done) LoadResult res = {};
        Loader l = { .path = name };
        int r;

        *ret_problems = (StoreProblems) {};
        r = load_buffer(&l, e, data, size, &res, ret_problems, ret_error);
        if (r < 0)
                return r;
        engine_commit(e);
        return (int) MIN(res.n_loaded, (unsigned long) INT_MAX);
}

static const char *file_type(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFIFO:
                return "a FIFO";
        case S_IFLNK:
                return "a symbolic link";
        case S_IFDIR:
                return "a directory";
        case S_IFSOCK:
                return "a socket";
        case S_IFCHR:
                return "a character device";
        case S_IFBLK:
                return "a block device";
        }
        return "not a regular file";
}

/* Reads the regular file open at @fd, NUL-terminated; -EFBIG beyond STORE_FILE_MAX. */
static int read_fd(Loader *l, int fd, const struct stat *st, char **ret_data, size_t *ret_size) {
        _cleanup_(freep) char *data = NULL;
        size_t size = 0;

        if ((uint64_t) st->st_size > STORE_FILE_MAX)
                return loader_fail(l, -EFBIG, "file is larger than %zu bytes", STORE_FILE_MAX);
        data = malloc((size_t) st->st_size + 1);
        if (!data)
                return loader_fail(l, -ENOMEM, "cannot read: %s", strerror(ENOMEM));
        while (size < (size_t) st->st_size) {
                ssize_t k = read(fd, data + size, (size_t) st->st_size - size);

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

/**
 * store_check_file() - report what a state file holds and what is wrong with it.
 * @path: the file (bfed --check-state FILE); a symbolic link is followed: the admin named it
 * @ret_problems: as store_load_buffer()
 * @ret_error: on failure, "FILE[:LINE]: reason"; may be NULL
 *
 * Loads into a scratch engine and writes nothing anywhere. A missing file, and a file that is
 * not a regular file (opened without blocking, so a FIFO cannot hang it), are errors here.
 *
 * Return: the number of objects that would be loaded, or as store_load_buffer(), or -ENOENT,
 * -EINVAL (not a regular file), -EFBIG, or the errno of a failed open or read.
 */
int store_check_file(const char *path, StoreProblems *ret_problems, char **ret_error) {
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *data = NULL;
        Loader l = { .path = path };
        struct stat st;
        size_t size = 0;
        int r;

        *ret_problems = (StoreProblems) {};
        r = engine_new(&e);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return fail_with(&l, loader_fail(&l, -errno, "cannot open: %s", strerror(errno)), ret_error);
        if (fstat(fd, &st) < 0)
                return fail_with(&l, loader_fail(&l, -errno, "cannot stat: %s", strerror(errno)), ret_error);
        if (!S_ISREG(st.st_mode))
                return fail_with(&l, loader_fail(&l, -EINVAL, "not a regular file (%s)", file_type(st.st_mode)),
                                 ret_error);
        r = read_fd(&l, fd, &st, &data, &size);
        if (r < 0)
                return fail_with(&l, r, ret_error);
        return store_load_buffer(path, data, size, e, ret_problems, ret_error);
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

/* ---- loading at start: what is done about a file that cannot be trusted whole ------------- */

/* Keeps the file at <dir>/state as <dir>/state.damaged-YYYYMMDDTHHMMSSZ[-N]: a hard link for
 * a regular file (the next save renames a new file over "state"; this name keeps the old one),
 * a rename for anything else (it is not ours, and a save could not rename over a directory).
 * Sets *ret_name to the new name. */
static int keep_aside(Store *s, bool move, char **ret_name) {
        char stamp[32], name[64];
        struct tm tm;
        time_t now = time(NULL);

        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EINVAL;
        for (unsigned i = 0; i < 100; i++) {
                int k;

                if (i == 0)
                        snprintf(name, sizeof(name), STORE_DAMAGED_PREFIX "%s", stamp);
                else
                        snprintf(name, sizeof(name), STORE_DAMAGED_PREFIX "%s-%u", stamp, i);
                if (move)
                        k = renameat2(s->dir_fd, STORE_FILE, s->dir_fd, name, RENAME_NOREPLACE);
                else
                        k = linkat(s->dir_fd, STORE_FILE, s->dir_fd, name, 0);
                if (k >= 0) {
                        if (fsync(s->dir_fd) < 0)
                                return -errno;
                        if (asprintf(ret_name, "%s/%s", s->dir, name) < 0)
                                return -ENOMEM;
                        return 0;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

/* Appends every line not loaded to <dir>/state.rejected, each after a comment line with the
 * time and the reason, so the admin can read, fix and re-add them. */
static int append_rejected(Store *s, const char *data, const LoadResult *res) {
        _cleanup_(buf_done) Buf b = {};
        _cleanup_(closep) int fd = -1;
        char stamp[32];
        struct stat st;
        struct tm tm;
        time_t now = time(NULL);
        int r;

        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        for (size_t i = 0; i < res->n_rejected; i++) {
                const Rejected *x = &res->rejected[i];

                buf_printf(&b, "# %s %s\n", stamp, x->why);
                buf_put(&b, data + x->offset, x->size);
                buf_puts(&b, "\n");
        }
        if (b.oom)
                return -ENOMEM;
        fd = openat(s->dir_fd, STORE_REJECTED_FILE,
                    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0600);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        r = write_all(fd, b.data, b.size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

/* Opens <dir>/state without following a symbolic link and without blocking on a FIFO, and
 * reads it. Returns 0 (*ret_data NULL when there is no file); 1 when it is not a regular file
 * (*ret_mode says what it is); -EFBIG when it is too large; or a fatal error in l->error. */
static int read_state(Store *s, Loader *l, char **ret_data, size_t *ret_size, mode_t *ret_mode) {
        _cleanup_(closep) int fd = -1;
        struct stat st;

        *ret_data = NULL;
        *ret_size = 0;
        /* look before opening: opening a device can have side effects */
        if (fstatat(s->dir_fd, STORE_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return loader_fail(l, -errno, "cannot stat: %s", strerror(errno));
        }
        *ret_mode = st.st_mode;
        if (!S_ISREG(st.st_mode))
                return 1;
        fd = openat(s->dir_fd, STORE_FILE, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                if (errno == ELOOP) { /* replaced by a symbolic link since */
                        *ret_mode = S_IFLNK;
                        return 1;
                }
                return loader_fail(l, -errno, "cannot open: %s", strerror(errno));
        }
        if (fstat(fd, &st) < 0)
                return loader_fail(l, -errno, "cannot stat: %s", strerror(errno));
        *ret_mode = st.st_mode;
        if (!S_ISREG(st.st_mode))
                return 1;
        return read_fd(l, fd, &st, ret_data, ret_size);
}

/**
 * store_load() - restore the persistent objects of <dir>/state into @e, as many as can be trusted.
 * @s: the store
 * @e: the engine, not in a transaction (at start: empty)
 * @ret_problems: every problem, "FILE:LINE: reason" or "FILE: reason", and what was done about
 *                it; empty when the file loaded whole. The daemon logs each at error level.
 * @ret_error: on failure, "FILE[:LINE]: reason"; may be NULL
 *
 * Fail closed, but never empty-handed (see the top of this file): every record the parser and
 * the engine accept is loaded; a refused record is skipped, its line appended to
 * <dir>/state.rejected; a damaged file (header, truncation, checksum, count) is first kept as
 * <dir>/state.damaged-TIME; something that is not a regular file at <dir>/state (a FIFO, a
 * symbolic link, a directory) is moved there and nothing is loaded. After any of these the
 * state file is rewritten with what was loaded, so the next start does not report them again.
 *
 * Return: the number of objects loaded (0 for a missing file); -EPROTONOSUPPORT for a newer
 * version (the file is untouched: an older bfed must not rewrite a newer file); the engine's
 * error when it is in a transaction; -ENOMEM; or the errno of a failed read, or of keeping a
 * damaged file aside (then nothing was loaded and nothing rewritten).
 */
int store_load(Store *s, Engine *e, StoreProblems *ret_problems, char **ret_error) {
        _cleanup_(load_result_done) LoadResult res = {};
        _cleanup_(store_problems_done) StoreProblems p = {};
        _cleanup_(freep) char *data = NULL, *kept = NULL;
        Loader l = { .path = s->path };
        size_t size = 0;
        mode_t mode = 0;
        int r, k;

        *ret_problems = (StoreProblems) {};
        r = read_state(s, &l, &data, &size, &mode);
        if (r == 1 || r == -EFBIG) {
                /* nothing in it can be read: keep it aside, start with nothing, loudly */
                bool regular = r == -EFBIG;

                free(TAKE_PTR(l.error));
                if (engine_in_transaction(e))
                        return fail_with(&l, loader_fail(&l, wfp_ret(FWP_E_TXN_IN_PROGRESS),
                                                         "cannot load: the engine is in a transaction"), ret_error);
                k = keep_aside(s, !regular, &kept);
                if (k < 0)
                        return fail_with(&l, loader_fail(&l, k, "is %s%s, and it cannot be moved aside: %s",
                                                         regular ? "larger than " : file_type(mode),
                                                         regular ? "1 GiB" : ", not a regular file",
                                                         strerror(-k)), ret_error);
                p.damaged = true;
                if (problems_add(&p, "%s: is %s%s; %s %s and started without persistent objects", s->path,
                                 regular ? "larger than " : file_type(mode), regular ? "1 GiB" : ", not a regular file",
                                 regular ? "kept it as" : "moved it to", kept) < 0)
                        return -ENOMEM;
                if (regular) {
                        /* the copy is kept: a file for what is in force (nothing) replaces it */
                        k = store_prepare(s, e);
                        if (k >= 0)
                                k = store_commit(s);
                        if (k < 0) {
                                store_discard(s);
                                if (problems_add(&p, "%s: cannot rewrite it: %s", s->path, strerror(-k)) < 0)
                                        return -ENOMEM;
                        }
                }
                *ret_problems = p;
                p = (StoreProblems) {};
                return 0;
        }
        if (r < 0)
                return fail_with(&l, r, ret_error);
        if (!data)
                return 0;

        r = load_buffer(&l, e, data, size, &res, &p, ret_error);
        if (r < 0)
                return r;
        if (!res.damage && res.n_rejected == 0) {
                engine_commit(e);
                return (int) MIN(res.n_loaded, (unsigned long) INT_MAX);
        }

        /* Nothing may be lost: the damaged file is kept before anything can overwrite it, and
         * the skipped lines go where the admin can fix and re-add them. */
        if (res.damage) {
                k = keep_aside(s, false, &kept);
                if (k < 0) {
                        engine_abort(e);
                        store_problems_done(&p);
                        return fail_with(&l, loader_fail(&l, k, "is damaged (%s), and no copy of it can be kept: %s",
                                                         res.damage, strerror(-k)), ret_error);
                }
                if (problems_add(&p, "%s: kept the damaged file as %s; loaded every complete record that "
                                 "parsed and that the engine took (%lu)", s->path, kept, res.n_loaded) < 0)
                        goto oom;
        }
        if (res.n_rejected > 0) {
                k = append_rejected(s, data, &res);
                if (k < 0 && !kept) {
                        /* then the file itself must stay: the lines are nowhere else */
                        k = keep_aside(s, false, &kept);
                        if (k < 0) {
                                engine_abort(e);
                                store_problems_done(&p);
                                return fail_with(&l, loader_fail(&l, k, "cannot keep the %zu records not loaded "
                                                                 "(in %s/%s or a copy of the file): %s", res.n_rejected,
                                                                 s->dir, STORE_REJECTED_FILE, strerror(-k)), ret_error);
                        }
                        if (problems_add(&p, "%s: cannot append to %s/%s; kept the file as %s instead", s->path,
                                         s->dir, STORE_REJECTED_FILE, kept) < 0)
                                goto oom;
                } else if (k < 0) {
                        if (problems_add(&p, "%s: cannot append to %s/%s (%s); the lines are in %s", s->path, s->dir,
                                         STORE_REJECTED_FILE, strerror(-k), kept) < 0)
                                goto oom;
                } else if (problems_add(&p, "%s: %zu record%s not loaded; appended to %s/%s with the reasons, "
                                        "to be fixed and added again", s->path, res.n_rejected,
                                        res.n_rejected == 1 ? "" : "s", s->dir, STORE_REJECTED_FILE) < 0)
                        goto oom;
        }
        engine_commit(e);

        /* what is in force, so the next start does not report the same problems again */
        k = store_prepare(s, e);
        if (k >= 0)
                k = store_commit(s);
        if (k < 0) {
                store_discard(s);
                if (problems_add(&p, "%s: cannot rewrite it with the %lu objects loaded: %s", s->path, res.n_loaded,
                                 strerror(-k)) < 0)
                        return -ENOMEM;
        }
        *ret_problems = p;
        p = (StoreProblems) {};
        return (int) MIN(res.n_loaded, (unsigned long) INT_MAX);

oom:
        engine_abort(e);
        return fail_with(&l, -ENOMEM, ret_error);
}
