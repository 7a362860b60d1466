/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c — see log.h. %m in a format prints the text of the error passed in. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"
#include "wfp.h"

static int max_level = LOG_INFO;
static const char *program_name = "bfed";

void log_set_program_name(const char *name) {
        program_name = name;
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
                [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcaseeq(s, names[i]) || (s[0] == (char) ('0' + i) && !s[1]))
                        return (int) i;
        return -EINVAL;
}

int log_parse_environment(void) {
        static const char *const names[] = { "SYSTEMD_LOG_LEVEL", "BFED_LOG_LEVEL" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const char *e = getenv(names[i]);
                int level;

                if (!e)
                        continue;
                level = log_level_from_string(e);
                if (level < 0) {
                        log_internal(LOG_ERR, 0, __FILE__, __LINE__, "Invalid %s='%s': expected emerg, alert, crit, "
                                     "err, warning, notice, info, debug or 0-7.", names[i], e);
                        return level;
                }
                max_level = level;
                return 1;
        }
        return 0;
}

/* systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connects to stderr; a child
 * that inherited the variable but not the stream must not write journal prefixes. */
static bool stderr_is_journal(void) {
        static int cached = -1;
        unsigned long long dev, ino;
        const char *e;
        struct stat st;
        int n = 0;

        if (cached >= 0)
                return cached;
        e = getenv("JOURNAL_STREAM");
        cached = e && sscanf(e, "%llu:%llu%n", &dev, &ino, &n) == 2 && !e[n] && fstat(STDERR_FILENO, &st) >= 0 &&
                 (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
        return cached;
}

const char *bfe_strerror(int r) {
        const WfpErrorInfo *info = wfp_error_info(wfp_code_from_ret(r));

        if (info)
                return info->name;
        return strerror(r < 0 ? -r : r);
}

char *log_escape(char *dst, size_t size, const char *src) {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;

        if (size == 0)
                return dst;
        for (const unsigned char *p = (const unsigned char *) src; *p; p++) {
                bool control = *p < 0x20 || *p == 0x7f;

                if (o + (control ? 4 : 1) >= size)
                        break;
                if (control) {
                        dst[o++] = '\\';
                        dst[o++] = 'x';
                        dst[o++] = hex[*p >> 4];
                        dst[o++] = hex[*p & 15];
                } else
                        dst[o++] = (char) *p;
        }
        dst[o] = 0;
        /* a cut inside a character ends the text before it; invalid bytes become '?' */
        return utf8_make_valid(dst);
}

static LogJournalWriter journal_writer;

void log_set_journal_writer(LogJournalWriter writer) {
        journal_writer = writer;
}

static int log_internalv(int level, int error, const char *file, int line, const char *const *fields, const char *fmt,
                         va_list ap) {
        static const char *const level_names[] = {
                "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
        };
        char buf[2048], text[2048], fmt2[1024];
        const char *p;
        size_t o = 0;

        if (level > max_level)
                return error;

        /* Expand %m ourselves: WFP errors are not errno values. */
        for (p = fmt; *p && o + 1 < sizeof(fmt2); p++) {
                if (p[0] == '%' && p[1] == 'm') {
                        const char *m = bfe_strerror(error);

                        for (; *m && o + 1 < sizeof(fmt2); m++) {
                                if (*m == '%' && o + 2 < sizeof(fmt2))
                                        fmt2[o++] = '%';
                                fmt2[o++] = *m;
                        }
                        p++;
                        continue;
                }
                fmt2[o++] = *p;
        }
        fmt2[o] = 0;

        vsnprintf(buf, sizeof(buf), fmt2, ap);
        log_escape(text, sizeof(text), buf);

        /* the journal takes the fields too; if it refuses, the line goes to the stream */
        if (journal_writer && stderr_is_journal() && journal_writer(level, error, file, line, text, fields) >= 0)
                return error;

        if (stderr_is_journal())
                fprintf(stderr, "<%d>%s\n", level, text);
        else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "%s %s (%s:%d): %s\n", program_name, level_names[level & 7], file, line, text);
        else
                fprintf(stderr, "%s %s: %s\n", program_name, level_names[level & 7], text);
        return error;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        error = log_internalv(level, error, file, line, NULL, fmt, ap);
        va_end(ap);
        return error;
}

int log_struct_internal(int level, int error, const char *file, int line, const char *const *fields,
                        const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        error = log_internalv(level, error, file, line, fields, fmt, ap);
        va_end(ap);
        return error;
}
