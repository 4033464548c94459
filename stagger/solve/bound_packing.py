"""Night bin-packing: jobs cannot be split between nights, nor across a blackout.

A resource that runs ``c`` jobs at once is ``c`` machines: jobs whose intervals never overlap
more than ``c`` deep can be split into ``c`` sequences of disjoint intervals (interval graphs
are perfect: colouring them needs as many colours as the deepest overlap). Each night's window,
cut by the blackouts that apply to every job of the resource (``Instance.resource_blocked``),
is a list of free *stretches*; a job lies inside one stretch (it ends in its own night and
never overlaps a blackout that applies to it). In a plan whose every night ends within ``M``
slots of its window start only the first ``M`` slots of each night count, so every job lies in
one of ``c`` copies of the stretches cut at ``M``: a bin packing, whose relaxations give
necessary conditions. For each job duration ``t`` of the resource (the jobs of at least ``t``
slots, ``n_t`` of them, ``V_t`` slots together):

- *count*: a stretch of length ``L`` holds at most ``floor(L / t)`` of them, so
  ``n_t <= c * sum(floor(L / t))``;
- *fill*: the slots they fill in a stretch are the durations of some of them, at most ``L``
  together: at most ``fill_t(L)``, the largest sum of a sub-multiset of the resource's
  durations ``>= t`` not above ``L`` (each stretch on its own: a relaxation); so
  ``V_t <= c * sum(fill_t(L))``.

*count* is checked first because it is cheap; on every case tried (20,000 random multisets
and stretches, and the tests) *fill* implied it, so no test fails without it alone.
With ``t`` the shortest duration, *fill* is at least as strong as the plain load bound
(``fill <= L``). Three jobs of 9, 9 and 8 slots on a host taking 2 at once: at ``M`` = 16
no two of them fit one stretch (fill 9), 26 > 2 x 9, so 17 where the load bound says 13. The
4 x 6 h jobs of a host over 3 nights of 14 h: at ``M`` = 11 h 59 a night
holds one 6 h job (count 3 < 4), at 12 h two: the bound is 12 h where the load bound says 8 h.

Monotone in ``M``: cutting at a larger ``M`` makes every stretch at least as long, and
``floor(L / t)`` and ``fill_t(L)`` never shrink as ``L`` grows, so once the test passes it
passes for every larger ``M``; the smallest passing ``M`` is found by binary search and is a
lower bound on the makespan of every plan with every job.

Jobs' own windows (blackouts that apply to some of the resource's jobs only, pins) restrict the
nights they may use: a job fits night ``n`` within ``M`` only if its earliest end in that night
is at most ``M``. For every set ``S`` of nights that the jobs' fits make (up to
``_NIGHT_SETS``), the jobs that fit only nights inside ``S`` must pass both tests on the
stretches of ``S`` alone (Hall's condition over nights; each is a necessary condition, so the
test stays valid, and it stays monotone: a larger ``M`` only widens each job's nights).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from stagger.instance import Instance, Span, free_segments

# Distinct night sets tested per resource and M; above, only the set of every night is.
_NIGHT_SETS = 16
# Up to this many nights a night set is an int64 bit mask (vectorised over the jobs); more
# (a cycle longer than two months) as Python ints, one job at a time.
_MASK_NIGHTS = 62


@dataclass
class Packing:
    """The bin-packing relaxation of one resource's jobs (see the module doc)."""

    inst: Instance
    durations: np.ndarray  # per member job, slots
    earliest: np.ndarray  # [job, night]: earliest end of the job in the night (slots), or big
    stretches: list[list[tuple[int, int]]]  # per night: [start, end) free stretches
    capacity: int
    _table: tuple[dict[int, int], np.ndarray] | None = None  # see _fill_table

    @classmethod
    def of(
        cls, inst: Instance, members: list[int], blocked: list[tuple[int, int]], capacity: int
    ) -> Packing:
        big = 1 << 40
        durations = np.array([inst.jobs[j].duration for j in members], dtype=np.int64)
        # Jobs share their allowed starts (the compiler caches them by blackouts and
        # duration): one row per distinct (allowed, duration).
        origin = [n.start for n in inst.nights]
        rows: dict[tuple[int, int], list[int]] = {}
        for j in members:
            job = inst.jobs[j]
            key = (id(job.allowed), job.duration)
            if key not in rows:
                rows[key] = [
                    spans[0][0] + job.duration - origin[n] if spans else big
                    for n, spans in enumerate(job.allowed)
                ]
        earliest = np.array(
            [rows[(id(inst.jobs[j].allowed), inst.jobs[j].duration)] for j in members],
            dtype=np.int64,
        ).reshape(len(members), len(inst.nights))
        stretches = [free_segments(night, blocked) for night in inst.nights]
        return cls(inst, durations, earliest, stretches, capacity)

    def _fill_table(self) -> tuple[dict[int, int], np.ndarray]:
        """``fill[i, L]``: the largest sum of durations of a sub-multiset of the resource's jobs
        of at least ``sizes[i]`` slots that is at most ``L`` (the durations descending; row
        index by duration in the dict), for ``L`` up to the longest night. Built as bitsets of
        reachable sums (bit ``x`` set: ``x`` reachable), a duration of ``m`` jobs added up to
        ``min(m, longest // t)`` times by binary splitting (1, 2, 4, ... copies); then, per
        row, the last reachable sum at or below each ``L``."""
        if self._table is not None:
            return self._table
        longest = max(n.end - n.start for n in self.inst.nights)
        mask = (1 << (longest + 1)) - 1
        nbytes = (longest + 8) // 8
        reach = 1
        index: dict[int, int] = {}
        rows: list[np.ndarray] = []
        for t, m in sorted(Counter(self.durations.tolist()).items(), reverse=True):
            left, chunk = min(m, longest // t), 1
            while left > 0:
                take = min(chunk, left)
                reach |= (reach << (take * t)) & mask
                left -= take
                chunk *= 2
            index[t] = len(rows)
            bits = np.unpackbits(
                np.frombuffer(reach.to_bytes(nbytes, "little"), dtype=np.uint8), bitorder="little"
            )[: longest + 1]
            rows.append(bits)
        at = np.arange(longest + 1, dtype=np.int64)
        fill = np.maximum.accumulate(np.where(np.array(rows, dtype=bool), at, 0), axis=1)
        self._table = (index, fill)
        return self._table

    def fits(
        self, horizon: int, rows: np.ndarray | None = None, *, night_sets: bool = True
    ) -> bool:
        """Whether the jobs (``rows``: a subset, default all) pass both tests when every night
        ends within ``horizon`` slots: in every night set (``night_sets``), else over all
        nights together. The fill tables use every duration of the resource (a superset of
        the subset's: the test only gets weaker, so it stays valid)."""
        durations = self.durations if rows is None else self.durations[rows]
        earliest = self.earliest if rows is None else self.earliest[rows]
        if not len(durations):
            return True
        can = earliest <= horizon  # [job, night]
        if not can.any(axis=1).all():
            return False  # some job fits no night at all
        lengths = [
            [
                min(b, night.start + horizon) - a
                for a, b in segs
                if min(b, night.start + horizon) > a
            ]
            for night, segs in zip(self.inst.nights, self.stretches, strict=True)
        ]
        every = (1 << len(lengths)) - 1
        if not night_sets or can.all():
            return self._passes(durations, [length for ls in lengths for length in ls])
        # Night sets as Python ints (a cycle may have more nights than a machine word); up
        # to 62 nights as int64 bit masks, one vector operation over the jobs (a week of
        # 10,000 VMs: 70,000 jobs, per resource and per horizon tried).
        sig_arr: np.ndarray
        if can.shape[1] <= _MASK_NIGHTS:
            sig_arr = can.astype(np.int64) @ (
                np.int64(1) << np.arange(can.shape[1], dtype=np.int64)
            )
        else:
            sig_arr = np.array(
                [sum(1 << int(n) for n in np.flatnonzero(row)) for row in can], dtype=object
            )
        found = set(sig_arr.tolist())
        sets = sorted(found | {every}) if len(found) <= _NIGHT_SETS else [every]
        for s in sets:
            pool = [length for n, ls in enumerate(lengths) if s >> n & 1 for length in ls]
            inside = np.asarray((sig_arr & ~s) == 0, dtype=bool)
            if inside.any() and not self._passes(durations[inside], pool):
                return False
        return True

    def _passes(self, durations: np.ndarray, lengths: list[int]) -> bool:
        if not lengths:
            return False
        c = self.capacity
        by_length = Counter(lengths)
        sizes = sorted(set(durations.tolist()), reverse=True)
        ordered = np.sort(durations)[::-1]
        volumes = np.cumsum(ordered)
        t_arr = np.array(sizes, dtype=np.int64)
        k = np.searchsorted(-ordered, -t_arr, side="right")  # jobs of >= t slots, per t
        n_t, v_t = k, volumes[k - 1]
        ls = np.array(list(by_length), dtype=np.int64)
        ms = np.array(list(by_length.values()), dtype=np.int64)
        places = ((ls[:, None] // t_arr[None, :]) * ms[:, None]).sum(axis=0)
        if (n_t > c * places).any() or (v_t > c * int((ls * ms).sum())).any():
            return False  # count, or volume against the whole stretches (fill <= L)
        index, fill = self._fill_table()
        filled = fill[[index[t] for t in sizes]][:, ls] @ ms
        return not bool((v_t > c * filled).any())

    def smallest_horizon(self, start: int) -> int:
        """The smallest ``M >= start`` at which the tests pass; one past the longest night
        if none does (the jobs cannot all fit)."""
        longest = max(n.end - n.start for n in self.inst.nights)
        if start > longest:
            return start
        if self.fits(start):
            return start
        if not self.fits(longest):
            return longest + 1
        lo, hi = start, longest  # fails at lo, passes at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.fits(mid):
                hi = mid
            else:
                lo = mid
        return hi

    def most_placeable(self) -> int:
        """An upper bound on how many of the jobs any plan places: the largest ``k`` whose
        ``k`` shortest jobs pass the tests over whole nights, all nights together. Valid
        because the tests are necessary for any set of placed jobs, and the ``k`` shortest
        pass whenever some ``k`` jobs do (at every ``t``: no more jobs of at least ``t``
        slots, no more volume; the fill tables are the same); monotone in ``k``."""
        longest = max(n.end - n.start for n in self.inst.nights)
        order = np.argsort(self.durations, kind="stable")
        if self.fits(longest, order, night_sets=False):
            return len(order)
        lo, hi = 0, len(order)  # passes at lo (nothing placed), fails at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.fits(longest, order[:mid], night_sets=False):
                lo = mid
            else:
                hi = mid
        return lo


def occupiable(
    inst: Instance, allowed: tuple[tuple[Span, ...], ...], duration: int, prefix: int
) -> np.ndarray:
    """Per slot: whether a job of ``duration`` with these allowed starts could occupy it in
    a plan whose nights all end within ``prefix`` slots of their window start (the region the
    load rules count a resource's free time over)."""
    mask = np.zeros(inst.horizon + 1, dtype=bool)
    for n, spans in enumerate(allowed):
        last = inst.nights[n].start + prefix - duration
        for lo, hi in spans:
            if lo <= min(hi, last):
                mask[lo : min(hi, last) + duration] = True
    return mask
