/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * journal.h — bfed's entries in the journal: the MESSAGE_ID= of the events an admin looks for
 * (journalctl MESSAGE_ID=…), the writer log.c calls when stderr is the journal's stream, and
 * the fields that name a caller.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#define BFED_MESSAGE_EXEMPTIONS_ON "MESSAGE_ID=4b50b03226074bfe890821b04b22b26a"
#define BFED_MESSAGE_EXEMPTIONS_OFF "MESSAGE_ID=411f280c79924940bccfbe59dfc48971"
#define BFED_MESSAGE_TABLE_RESTORED "MESSAGE_ID=98566e0327f247c9a9ed8c9e13f409e4"
#define BFED_MESSAGE_OBSTACLE "MESSAGE_ID=5a504e4af9074f0e8ef1f923326c563c"
#define BFED_MESSAGE_STATE_REFUSED "MESSAGE_ID=0add7c23996a438491cfcac049725279"

/* "KEY=value" strings ending with NULL, for log_struct(). */
#define LOG_FIELDS(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* sd_journal_sendv() of MESSAGE=, PRIORITY=, CODE_FILE=, CODE_LINE=, SYSLOG_IDENTIFIER=bfed,
 * ERRNO= (for an errno) and @fields; a LogJournalWriter (log.h). */
int journal_write(int level, int error, const char *file, int line, const char *message, const char *const *fields);

/* BFED_CALLER_NAME=, BFED_CALLER_UID=, BFED_CALLER_PID= of a bus caller, and BFED_CALLER_COMM= if
 * @comm is known (neither NULL nor ""), in @buf (4 × 64 bytes), pointed to by @ret (5 entries,
 * the last used one followed by NULL). Return: the number of fields. */
size_t journal_caller_fields(const char *name, const char *comm, uid_t uid, pid_t pid, char buf[static 256],
                             const char *ret[static 5]);
