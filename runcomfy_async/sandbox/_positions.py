"""Queue positions in O(log n): a growable Fenwick tree over queue slots.

Every job entering the queue takes the next slot, holding 1 while it waits and 0 once it has
started or been cancelled. A job's queue position is the number of waiting jobs in earlier
slots, so a status call stays cheap with 10,000 jobs queued and cancellations anywhere.
"""

from __future__ import annotations


class QueuePositions:
    """Counts of waiting jobs per slot, with prefix sums in O(log n)."""

    __slots__ = ("_tree",)

    def __init__(self) -> None:
        # 1-based Fenwick array; index 0 is unused.
        self._tree: list[int] = [0]

    def append(self) -> int:
        """Take the next slot, marked waiting, and return it (0-based)."""
        i = len(self._tree)
        low = i & -i
        # Node i covers the slots (i - low, i]: the earlier ones already exist.
        self._tree.append(1 + self._prefix(i - 1) - self._prefix(i - low))
        return i - 1

    def remove(self, slot: int) -> None:
        """Mark a waiting slot as no longer waiting."""
        tree = self._tree
        i = slot + 1
        size = len(tree)
        while i < size:
            tree[i] -= 1
            i += i & -i

    def waiting_before(self, slot: int) -> int:
        """How many slots before `slot` are still waiting: the queue position."""
        return self._prefix(slot)

    def clear(self) -> None:
        """Forget every slot: called when nobody waits, so memory stays bounded."""
        self._tree = [0]

    def _prefix(self, count: int) -> int:
        tree = self._tree
        total = 0
        i = count
        while i > 0:
            total += tree[i]
            i -= i & -i
        return total
