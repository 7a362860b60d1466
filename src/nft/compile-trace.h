/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-trace.h — the trace chains (compile.h, "Truth on the wire") in a batch of their own.
 *
 * The daemon answers the call that turns the exemptions on once the kernel has the exemption
 * filters: it compiles that transaction with NftConfig.trace off, so its batch has no trace
 * chains, and sends them right after the answer, before anything else (manager.c). Their
 * deletion stays in the batch that removes the exemptions (nft_compile_changes()).
 */
#pragma once

#include "compile.h"

typedef struct NftBatch NftBatch;

/* The trace chains, new in the table: for a table that has the exemptions and not them. */
int nft_compile_trace_chains(const NftConfig *c, NftBatch *b);
