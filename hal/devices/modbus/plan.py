"""Planning Modbus reads: cover register spans with few requests of at most 125 registers."""

from __future__ import annotations

from collections.abc import Iterable

MAX_READ = 125  # Modbus limit of registers per read


def plan_reads(
    spans: Iterable[tuple[int, int]], max_gap: int = 16, max_count: int = MAX_READ
) -> list[tuple[int, int]]:
    """`spans`: (start, end) half-open register ranges. Returns (address, count) blocks;
    spans closer than `max_gap` share a block (reading a few unused registers is cheaper
    than another round trip)."""
    blocks: list[list[int]] = []
    for lo, hi in sorted(spans):
        if (
            blocks
            and lo - blocks[-1][1] <= max_gap
            and max(hi, blocks[-1][1]) - blocks[-1][0] <= max_count
        ):
            blocks[-1][1] = max(blocks[-1][1], hi)
        else:
            while hi - lo > max_count:  # one span longer than a read: split it
                blocks.append([lo, lo + max_count])
                lo += max_count
            blocks.append([lo, hi])
    return [(lo, hi - lo) for lo, hi in blocks]
