#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-runs.py ENGINE_JSON KERNEL_ORDER: whether the kernel's rules keep the engine's order.

ENGINE_JSON: EnumFilters' filters of one sublayer and layer, in evaluation order (busctl --json).
KERNEL_ORDER: one line per rule met from the sublayer chain through the chunk gotos: a filter id,
or "run ID ID…" (a run's set elements: a filter with port ranges has one for each port). Prints
what is wrong, nothing when all holds:
  - every filter of the engine is there once, as a rule or an element;
  - the rules come in the engine's order of their filters, a run's rule at its first member;
  - (J) no filter between a run's first member and another member, outside the run, overlaps
    that member: a run's members are looked up early, and that may only pass filters they
    cannot meet. Overlap is decided on protocol, ports and addresses (compile.h, NftRun).
"""
import ipaddress
import json
import sys


def interval(field, match, value):
    """The condition's values as an integer interval, or None when it cannot be told apart."""
    if field == "IP_PROTOCOL":
        n = {"tcp": 6, "udp": 17, "icmp": 1}.get(value)
        return (n, n) if n is not None and match == 0 else None
    if field in ("IP_LOCAL_PORT", "IP_REMOTE_PORT"):
        lo, _, hi = value.partition("-")
        return (int(lo), int(hi or lo)) if match in (0, 5) else None
    if field in ("IP_REMOTE_ADDRESS", "IP_LOCAL_ADDRESS") and match == 0:
        net = ipaddress.ip_network(value, strict=False)
        return (int(net.network_address), int(net.broadcast_address))
    if field in ("IP_REMOTE_ADDRESS", "IP_LOCAL_ADDRESS") and match == 5:
        lo, _, hi = value.partition("-")
        return (int(ipaddress.ip_address(lo)), int(ipaddress.ip_address(hi)))
    return None


def fields(f):
    out = {}
    for field, match, value in f["Conditions"]["data"]:
        out.setdefault(field, []).append(interval(field, match, value))
    return out


def disjoint(a, b):
    for field, xs in a.items():
        ys = b.get(field)
        if not ys or None in xs or None in ys:
            continue
        if all(x[1] < y[0] or y[1] < x[0] for x in xs for y in ys):
            return True
    return False


def main():
    engine = json.load(open(sys.argv[1]))
    order = [f["Id"]["data"] for f in engine]
    pos = {fid: i for i, fid in enumerate(order)}
    conds = {f["Id"]["data"]: fields(f) for f in engine}
    seen, carriers, problems = {}, [], []
    for line in open(sys.argv[2]):
        words = line.split()
        if not words:
            continue
        members = sorted({int(w) for w in words[1:]}) if words[0] == "run" else [int(words[0])]
        for m in members:
            if m not in pos:
                problems.append(f"filter {m} is in the kernel, not the engine")
            elif m in seen:
                problems.append(f"filter {m} is in the kernel twice")
            seen[m] = members
        known = [m for m in members if m in pos]
        if known:
            carriers.append(min(known, key=pos.get))
    for fid in order:
        if fid not in seen:
            problems.append(f"filter {fid} is in the engine, not the kernel")
    if [pos[c] for c in carriers] != sorted(pos[c] for c in carriers):
        problems.append("the rules are not in the engine's order of their first members: " +
                        " ".join(map(str, carriers)))
    for members in {id(v): v for v in seen.values()}.values():
        known = sorted((m for m in members if m in pos), key=pos.get)
        if len(known) < 2:
            continue
        inside = set(known)
        for m in known[1:]:
            for g in order[pos[known[0]] + 1:pos[m]]:
                if g not in inside and not disjoint(conds[m], conds[g]):
                    problems.append(f"run member {m} is looked up before filter {g}, which it overlaps")
    print("\n".join(problems))


if __name__ == "__main__":
    main()
