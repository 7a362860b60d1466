/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* guid.h — GUID keys as WFP uses them: parse, format, compare, generate. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bfe/bfe.h"

/* libbfe's BfeKey: the 16 bytes of the canonical text form, in text order. */
typedef BfeKey BfeGuid;

#define GUID_STRING_MAX 37 /* 36 characters and the NUL */

int guid_from_string(const char *s, BfeGuid *ret);
char *guid_to_string(const BfeGuid *g, char buf[static GUID_STRING_MAX]);
bool guid_is_null(const BfeGuid *g);
bool guid_equal(const BfeGuid *a, const BfeGuid *b);
int guid_generate(BfeGuid *ret);

/* Convenience for log and error messages: a rotating static buffer, not thread-safe. */
const char *guid_str(const BfeGuid *g);
