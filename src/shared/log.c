/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c — see log.h. %m in a format prints the text of the error passed in. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void log_parse_environment(void) {
        static const char *const names[] = {
                [LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        const char *e = getenv("BFED_LOG_LEVEL");

        if (!e)
                return;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i] && strcaseeq(e, names[i]))
                        max_level = (int) i;
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

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        static const char *const level_names[] = {
                "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
        };
        char buf[2048], text[2048], fmt2[1024];
        const char *p;
        size_t o = 0;
        va_list ap;

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

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt2, ap);
        va_end(ap);
        log_escape(text, sizeof(text), buf);

        if (getenv("JOURNAL_STREAM"))
                fprintf(stderr, "<%d>%s\n", level, text);
        else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "%s %s (%s:%d): %s\n", program_name, level_names[level & 7], file, line, text);
        else
                fprintf(stderr, "%s %s: %s\n", program_name, level_names[level & 7], text);
        return error;
}
