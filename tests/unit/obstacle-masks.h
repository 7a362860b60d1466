/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* obstacle-masks.h — the exempted datagram kinds of obstacles.h as masks, for the tests: a port's
 * four bits are inbound new, inbound reply, outbound new, outbound reply. */
#pragma once

#include <stdint.h>

#define V4_500 (UINT32_C(0xf) << 0)
#define V4_4500 (UINT32_C(0xf) << 4)
#define V6_500 (UINT32_C(0xf) << 8)
#define IN_NEW UINT32_C(0x111)
#define IN_REPLY UINT32_C(0x222)
#define OUT_NEW UINT32_C(0x444)
#define OUT_REPLY UINT32_C(0x888)
#define IN (IN_NEW | IN_REPLY)
