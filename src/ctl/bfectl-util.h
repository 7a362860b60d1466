/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bfectl-util.h — bfectl's pure parsers and formatters, kept apart so cmocka can test them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bfe/bfe.h"

/* A number, or a name of wfp_context_type_from_string() ("ike-mm", "IPSEC_IKE_MM"). */
int parse_context_type(const char *s, uint32_t *ret);

int parse_condition(const char *s, BfeCondition *ret);
void condition_done(BfeCondition *c);

/* FIELD=VALUE of bfectl explain: *ret_name is malloc()ed, *ret_value points into @s. */
int parse_explain_field(const char *s, char **ret_name, const char **ret_value);

/* A GUID (*ret_is_key = true, *ret_key set) or a filter id (*ret_id set). */
int parse_key_or_id(const char *s, BfeKey *ret_key, uint64_t *ret_id, bool *ret_is_key);

char *json_escape(const char *s);
void json_print_string(FILE *f, const char *s);

/* The optimal string alignment distance of @a and @b (Levenshtein's edits, and a swap of two
 * neighbours as one): "lsit" is 1 from "list". Counts above 255 are 255. */
unsigned edit_distance(const char *a, const char *b);

/* What @word was probably meant to be: the one of the @n @candidates it is a prefix of, or
 * the nearest within an edit distance of 2 (and closer than replacing all of it), the first of
 * equals; NULL if none is. */
const char *suggest(const char *word, const char *const *candidates, size_t n);
