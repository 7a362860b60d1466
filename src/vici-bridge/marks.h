/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * marks.h — charon's socket mark against bfed's SocketMark. With SocketMark set, bfed's inbound
 * ALE exemption takes only sockets with that mark: charon's must carry it
 * (charon.plugins.socket-default.fwmark), or IKE to it is not exempt. Without SocketMark, any
 * local process may bind UDP 500 or 4500 and receive through the exemption.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "swconf.h"

typedef enum MarksVerdict {
        MARKS_MATCH,            /* both set, the same */
        MARKS_NEITHER,          /* neither set: the exemption takes any local socket */
        MARKS_CHARON_ONLY,      /* charon marks, bfed does not check */
        MARKS_BFED_ONLY,        /* bfed checks a mark charon does not set */
        MARKS_DIFFER,           /* both set, different */
} MarksVerdict;

/**
 * marks_charon() - charon's socket mark in @conf: DAEMON.plugins.socket-default.fwmark, or,
 * for a daemon other than charon (charon-systemd), charon.plugins.socket-default.fwmark.
 * @daemon: the daemon's name, as vici's version command gives it
 * @ret_key: the key it was read from (or the one looked up first)
 *
 * Return: 1 with *@ret; 0 when no mark is set (or it is 0, which is no mark); -EINVAL or
 * -ERANGE when the value is not a mark.
 */
int marks_charon(const SwConf *conf, const char *daemon, uint32_t *ret, const char **ret_key);

/* @bfed 0 is no SocketMark (bfed refuses 0 as one). */
MarksVerdict marks_compare(bool charon_set, uint32_t charon, uint32_t bfed);
