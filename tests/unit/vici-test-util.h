/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vici-test-util.h — the vici packets recorded from charon (tests/unit/vici/captures). */
#pragma once

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "vici.h"

static const char *const vici_test_captures[] = {
        "list/00-CMD_RESPONSE",   "list/01-CMD_RESPONSE",   "list/02-EVENT_CONFIRM", "list/03-EVENT-list-conn",
        "list/04-EVENT-list-conn", "list/05-EVENT-list-conn", "list/06-EVENT-list-conn",
        "list/07-EVENT-list-conn", "list/08-CMD_RESPONSE",   "log/00-EVENT_CONFIRM",  "log/01-EVENT-log",
        "unknown/00-CMD_UNKNOWN", "unknown/01-EVENT_UNKNOWN",
};
static const size_t vici_test_n_captures = sizeof(vici_test_captures) / sizeof(vici_test_captures[0]);

/* The recorded packet @name (malloc()ed, *@ret_size bytes); fails the test if unreadable. */
static inline uint8_t *vici_test_read_capture(const char *name, size_t *ret_size) {
        char path[4096];
        char *data = NULL;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", VICI_CAPTURES_DIR, name);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        assert_true(fd >= 0);
        assert_int_equal(read_regular_file(fd, VICI_SEGMENT_MAX, &data, ret_size, NULL), 0);
        close(fd);
        return (uint8_t *) data;
}
