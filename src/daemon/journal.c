/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* journal.c — one entry to the journal, with bfed's fields. See journal.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
/* CODE_FILE= and CODE_LINE= are the caller's of log_*(), not journal.c's */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "journal.h"
#include "macro.h"

#define JOURNAL_FIELDS_MAX 16
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static void add(struct iovec *iov, size_t *n, const char *s) {
        iov[(*n)++] = (struct iovec) { .iov_base = (void *) s, .iov_len = strlen(s) };
}

int journal_write(int level, int error, const char *file, int line, const char *message, const char *const *fields) {
        struct iovec iov[6 + JOURNAL_FIELDS_MAX];
        char msg[2100], prio[16], code_file[512], code_line[32], err[32];
        size_t n = 0;

        /* sd_journal_sendv() drops the entry silently where there is no journal: the stream gets it */
        if (access(JOURNAL_SOCKET, F_OK) < 0)
                return -errno;
        (void) snprintf(msg, sizeof(msg), "MESSAGE=%s", message);
        (void) snprintf(prio, sizeof(prio), "PRIORITY=%d", level & 7);
        (void) snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
        (void) snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
        add(iov, &n, msg);
        add(iov, &n, prio);
        add(iov, &n, code_file);
        add(iov, &n, code_line);
        add(iov, &n, "SYSLOG_IDENTIFIER=bfed");
        /* WFP codes are not errno values */
        if (error < 0 && error > -4096) {
                (void) snprintf(err, sizeof(err), "ERRNO=%d", -error);
                add(iov, &n, err);
        }
        for (size_t i = 0; fields && fields[i] && i < JOURNAL_FIELDS_MAX; i++)
                add(iov, &n, fields[i]);
        return sd_journal_sendv(iov, (int) n);
}

size_t journal_caller_fields(const char *name, const char *comm, uid_t uid, pid_t pid, char buf[static 256],
                             const char *ret[static 5]) {
        size_t n = 0;

        (void) snprintf(buf, 64, "BFED_CALLER_NAME=%s", name);
        (void) snprintf(buf + 64, 64, "BFED_CALLER_UID=%u", (unsigned) uid);
        (void) snprintf(buf + 128, 64, "BFED_CALLER_PID=%d", (int) pid);
        ret[n++] = buf;
        ret[n++] = buf + 64;
        ret[n++] = buf + 128;
        /* left out where bfed could not read it (ProtectProc=invisible hides other users' processes) */
        if (comm && comm[0]) {
                (void) snprintf(buf + 192, 64, "BFED_CALLER_COMM=%s", comm);
                ret[n++] = buf + 192;
        }
        ret[n] = NULL;
        return n;
}
