/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store-format.c — the state file's text as a whole: written for the engine's persistent
 * objects, and read back into an engine record by record, with what could not be trusted.
 * Memory only; store.c keeps the files.
 *
 * THE FILE FORMAT (version 2; version 1 is read too). Text, one record per line, every line
 * ending in '\n':
 *
 *   bfed-state 2
 *   provider key=GUID name=S ...
 *   sublayer ...
 *   context ...
 *   filter ...
 *   end RECORDS CRC
 *
 * - A record is one object: its fields as KEY=VALUE, from the kind's field table; see
 *   store-record.c for the records and how each value is written.
 * - Order: providers, sublayers (evaluation order), provider contexts, then filters in order
 *   of addition, so every reference points backwards and equal weights keep their tie order.
 *   Filter ids are runtime ids and are not saved. Neither the built-in providers and sublayers nor
 *   the engine-owned IKE/AuthIP exemption filters are saved: engine_add_filter() re-derives
 *   the exemptions when an MM policy filter comes back.
 * - The last line carries the number of records between header and end line, and the CRC-32
 *   (IEEE, as zlib's crc32(), 8 lower-case hex digits) of every byte before the end line. A
 *   file cut at any byte either lacks its final newline or lacks the end record; a flipped byte
 *   changes the CRC.
 *
 * Reading is record by record, each in its own engine savepoint (store-record.c adds it with
 * the engine's public add functions). A record that the parser or the engine refuses is noted
 * with its reason and skipped; so is, by the engine's own checks, every later record that
 * references it. Damage to the file as a whole — a header that is not "bfed-state 1|2", a
 * missing or cut end record, a count or CRC that disagrees, an empty file — is noted too, and
 * every complete record is still read. A newer version is the one refusal. What store.c does
 * about all of it is said at its top.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "engine.h"
#include "log.h"
#include "macro.h"
#include "store-format.h"
#include "store-record.h"
#include "string-util.h"
#include "wfp.h"

#define STORE_HEADER "bfed-state "
#define STORE_MESSAGES_MAX 100          /* problems listed one by one; the rest are counted */

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib) ------------------------------------------------- */

/* Eight bytes a step ("slicing-by-8"), with a table for each byte's place: a state file of 100,000
 * filters is 28 MB, checksummed at every start and every save, and a byte a step was 7 % of a
 * start. */
static uint32_t crc32_buf(const void *data, size_t n) {
        static uint32_t table[8][256];
        static bool have_table;
        const uint8_t *p = data;
        uint32_t crc = UINT32_MAX;

        if (!have_table) {
                for (uint32_t i = 0; i < 256; i++) {
                        uint32_t c = i;
                        for (int k = 0; k < 8; k++)
                                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                        table[0][i] = c;
                }
                for (uint32_t i = 0; i < 256; i++)
                        for (int t = 1; t < 8; t++)
                                table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
                have_table = true;
        }
        for (; n >= 8; n -= 8, p += 8) {
                uint32_t a, b;

                memcpy(&a, p, 4);
                memcpy(&b, p + 4, 4);
                a = le32toh(a) ^ crc;
                b = le32toh(b);
                crc = table[7][a & 0xff] ^ table[6][(a >> 8) & 0xff] ^ table[5][(a >> 16) & 0xff] ^
                      table[4][a >> 24] ^ table[3][b & 0xff] ^ table[2][(b >> 8) & 0xff] ^
                      table[1][(b >> 16) & 0xff] ^ table[0][b >> 24];
        }
        while (n--)
                crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return ~crc;
}

/* ---- writing ------------------------------------------------------------------------------- */

static bool is_persistent(uint32_t flags) {
        return flags & WFP_FLAG_PERSISTENT;
}

/* Whether @object is in the state file: persistent, and not the engine's own. */
static bool object_is_saved(ObjectKind kind, const void *object) {
        switch (kind) {
        case OBJECT_PROVIDER:
                return is_persistent(((const Provider *) object)->flags) && !((const Provider *) object)->builtin;
        case OBJECT_SUBLAYER:
                return is_persistent(((const Sublayer *) object)->flags) && !((const Sublayer *) object)->builtin;
        case OBJECT_PROVIDER_CONTEXT:
                return is_persistent(((const ProviderContext *) object)->flags);
        case OBJECT_FILTER:
                /* a boot-time filter is stored too: it is in force at every boot until deleted */
                return (is_persistent(((const Filter *) object)->flags) ||
                        filter_is_boottime((const Filter *) object)) && !((const Filter *) object)->engine_owned;
        case _OBJECT_KIND_MAX:
                break;
        }
        return false;
}

/* Filters in order of addition: of their ids (object_insert() gives them in that order). */
static int compare_filter_id(const void *a, const void *b) {
        const Filter *fa = *(const Filter *const *) a, *fb = *(const Filter *const *) b;

        return fa->id < fb->id ? -1 : fa->id > fb->id;
}

/* The record of @object, if it is saved; returns the number of records written (0 or 1). */
static size_t write_saved(Buf *b, ObjectKind kind, const void *object) {
        if (!object_is_saved(kind, object))
                return 0;
        record_write(b, kind, object);
        return 1;
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
        for (Provider *p = ptail; p; p = p->prev)
                n_records += write_saved(b, OBJECT_PROVIDER, p);

        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                n_records += write_saved(b, OBJECT_SUBLAYER, s);

        for (ProviderContext *c = engine_provider_contexts(e); c; c = c->next)
                ctail = c;
        for (ProviderContext *c = ctail; c; c = c->prev)
                n_records += write_saved(b, OBJECT_PROVIDER_CONTEXT, c);

        /* The engine list is in order of addition, except that an aborted delete relinks at
         * the end; the id is the true order, and the tie-breaker of equal weights. */
        for (Filter *f = engine_filters(e); f; f = f->next)
                if (object_is_saved(OBJECT_FILTER, f))
                        n_filters++;
        if (n_filters > 0) {
                size_t i = 0;

                filters = calloc(n_filters, sizeof(*filters));
                if (!filters)
                        return -ENOMEM;
                for (Filter *f = engine_filters(e); f; f = f->next)
                        if (object_is_saved(OBJECT_FILTER, f))
                                filters[i++] = f;
                qsort(filters, n_filters, sizeof(*filters), compare_filter_id);
                for (i = 0; i < n_filters; i++)
                        record_write(b, OBJECT_FILTER, filters[i]);
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

bool store_changes_touch_persistent(const Engine *e) {
        const Change *changes;
        size_t n;

        changes = engine_changes(e, &n);
        for (size_t i = 0; i < n; i++)
                if (object_is_saved(changes[i].kind, changes[i].object))
                        return true;
        return false;
}

/* ---- reading ------------------------------------------------------------------------------- */

int loader_fail(Loader *l, int r, const char *fmt, ...) {
        _cleanup_(freep) char *msg = NULL;
        va_list ap;
        int k;

        if (l->error)
                return r;
        va_start(ap, fmt);
        msg = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!msg)
                return r;
        if (l->line > 0)
                k = asprintf(&l->error, "%s:%lu: %s", l->path, l->line, msg);
        else
                k = asprintf(&l->error, "%s: %s", l->path, msg);
        if (k < 0)
                l->error = NULL;
        return r;
}

void load_result_done(LoadResult *res) {
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
        if (!ARRAY_RESERVE(res->rejected, res->n_rejected_alloc, res->n_rejected + 1, 8))
                return -ENOMEM;
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
        if (memchr(digits, 0, n - hlen) || text_parse_u64(digits, 10, UINT32_MAX, &version) < 0)
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
        if (!streq(word, "end") || !n || !sum || strlen(sum) != 8 || text_parse_u64(n, 10, ULONG_MAX, &count) < 0)
                return loader_fail(l, -EBADMSG, "malformed end record (not 'end RECORDS CRC')");
        snprintf(hex, sizeof(hex), "0x%s", sum); /* text_parse_u64() wants a digit first */
        if (text_parse_u64(hex, 16, UINT32_MAX, &crc) < 0)
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
                        /* after the records: the end record, or an incomplete last line (but a cut end
                         * record is no record) */
                        if (!nl && !(len >= 3 && memcmp(data + off, "end", 3) == 0)) {
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
                else {
                        _cleanup_(freep) char *reason = NULL;

                        r = record_load(e, l->version, scratch, &reason);
                        if (r < 0 && reason)
                                (void) loader_fail(l, r, "%s", reason);
                }
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

int store_problems_add(StoreProblems *p, const char *fmt, ...) {
        char **m;
        va_list ap;

        m = reallocarray(p->messages, p->n_messages + 2, sizeof(char *));
        if (!m)
                return -ENOMEM;
        p->messages = m;
        va_start(ap, fmt);
        m[p->n_messages] = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!m[p->n_messages])
                return -ENOMEM;
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

int loader_return(Loader *l, int r, char **ret_error) {
        if (!l->error)
                (void) loader_fail(l, r, "%s", bfe_strerror(r));
        if (ret_error)
                *ret_error = TAKE_PTR(l->error);
        free(TAKE_PTR(l->error));
        return r;
}

int load_text(Loader *l, Engine *e, const void *data, size_t size, LoadResult *res, StoreProblems *ret_problems,
              char **ret_error) {
        StoreProblems p = {};
        int r;

        r = load_data(l, e, data, size, res);
        if (r < 0)
                return loader_return(l, r, ret_error);
        r = make_problems(l->path, res, &p);
        if (r < 0) {
                store_problems_done(&p);
                engine_abort(e);
                return loader_return(l, r, ret_error);
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
 * committed here. The fuzzers' entry point, and the core of store_load() and store_check_file().
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
        r = load_text(&l, e, data, size, &res, ret_problems, ret_error);
        if (r < 0)
                return r;
        engine_commit(e);
        return (int) MIN(res.n_loaded, (unsigned long) INT_MAX);
}

