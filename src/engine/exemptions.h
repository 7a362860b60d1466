/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exemptions.h — the IKE/AuthIP exemption filters the engine adds by itself (doc/design.md §8). */
#pragma once

#include <stddef.h>

#include "guid.h"

typedef struct Engine Engine;
typedef struct Filter Filter;

#define EXEMPTION_FILTERS_MAX 16

/* Builds the whole set as new, unlinked filters (engine_owned set); all or nothing. */
int exemptions_build(Engine *e, Filter **set, size_t *ret_n);

/* The keys of the set, in the order exemptions_build() makes them: *ret_n of them. */
void exemptions_keys(BfeGuid keys[static EXEMPTION_FILTERS_MAX], size_t *ret_n);

/* Frees a filter that is not (or no longer) linked into the engine. */
void filter_destroy(Filter *f);
