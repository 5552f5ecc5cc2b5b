"""Several independent instances of a one-query task in one sequence, each with its own distance.

A task that scores one query per sequence (recall, adding, referent) gives a training step one label per
sequence; n-back gives a hundred. ``task.instances = k`` places k independent instances in every sequence,
each a source token and a query token ``d_i`` steps later (plus, for some tasks, a few tokens that must lie
between them), and scores every query, as Zoology's multi-query associative recall scores every query. Both
the source and the query token carry the instance index, so a query says which instance it asks about.

The placement (``place_instances``) is vectorised: a loop over the k instances, never over the batch. The
instances are placed longest first; each takes a start drawn uniformly among those where its source, its
query and (for instances shorter than half the sequence) its in-between tokens find free positions; the
instances at least half the sequence long take their in-between tokens last. This never runs out of room when

    d_i <= seq_len - (2k - 1)                          for every instance (max_distance), and
    seq_len >= max(4P + 1, (3 + E)P + E + 1, 2(P + E + 1)),   P = (k - 1)(2 + E),

with E in-between tokens per instance (P bounds the positions the other instances take). Why, for the
instance placed at step j, at distance d:

- d >= seq_len / 2: only longer-or-equal instances are placed yet, their sources before seq_len - d and their
  queries after it, so each rules out at most 2 of the seq_len - d starts (its source, and the start whose
  query would meet its query); seq_len - d >= 2k - 1 leaves one.
- d < seq_len / 2: more than seq_len / 2 starts; each taken position rules out at most 2 of them (as the
  source or as the query), and, only when d <= P + E, at most E more by crowding the positions between;
  the bounds on seq_len leave one.
- Last, a long instance's in-between tokens: at most P of its d - 1 inner positions are taken, and
  d >= seq_len / 2 >= P + E + 1 leaves E.

The constructor refuses a layout these bounds do not cover, naming task.instances and task.seq_len.
"""

from __future__ import annotations

import torch

from tasks.base import Task, TaskConfigError, require_int


def points_per_other(instances: int, extras: int) -> int:
    """P: the positions that the other instances of a sequence occupy at most."""
    return (instances - 1) * (2 + extras)


def min_seq_len(instances: int, extras: int, min_distance: int, max_distance: int) -> int:
    """The shortest sequence that holds ``instances`` instances at every distance in [min_distance, max_distance]."""
    k, extra, others = instances, extras, points_per_other(instances, extras)
    needed = [max_distance + 2 * k - 1, min_distance + 2 * k - 1, 4 * others + 1, (3 + extra) * others + extra + 1]
    if k > 1:
        needed.append(2 * (others + extra + 1))
    return max(needed)


def place_instances(distance: torch.Tensor, seq_len: int, extras: int, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Collision-free positions for k instances per row: source (B, k), query = source + distance (B, k), and
    ``extras`` in-between positions per instance (B, k, extras), strictly between its source and its query.

    ``distance`` is (B, k) long; the seq_len conditions in this module's docstring must hold (InstanceTask
    checks them at construction). Positions are uniform over the free ones at each step, so where a layout
    falls in the sequence carries no clue; rows never wait on each other and nothing syncs with the host."""
    batch_size, k = distance.shape
    device = distance.device
    positions = torch.arange(seq_len, device=device)[None, :]  # (1, L)
    rows = torch.arange(batch_size, device=device)
    occupied = torch.zeros(batch_size, seq_len, dtype=torch.bool, device=device)
    source = torch.zeros_like(distance)
    extra = torch.zeros(batch_size, k, extras, dtype=torch.long, device=device)
    # longest first; ties in random order, so an instance's index says nothing about where it lands
    tie_break = torch.rand(distance.shape, generator=generator, device=device)
    order = (distance.float() + 0.5 * tie_break).argsort(dim=1, descending=True)  # (B, k)
    is_long = 2 * distance >= seq_len  # (B, k): these take their in-between tokens after every source is placed

    for step in range(k):
        slot = order[:, step]  # (B,) the instance placed now
        d = distance[rows, slot][:, None]  # (B, 1)
        free = ~occupied
        query = positions + d  # (B, L): the query of a source at each position
        fits = (query < seq_len) & free & free.gather(1, query.clamp(max=seq_len - 1))
        if extras:
            free_before = torch.nn.functional.pad(free.long().cumsum(dim=1), (1, 0))  # (B, L + 1)
            room = free_before.gather(1, query.clamp(max=seq_len - 1)) - free_before[:, 1:]  # free in (s, s + d)
            fits &= room >= extras
        scores = torch.rand(batch_size, seq_len, generator=generator, device=device)
        start = torch.where(fits, scores, -1.0).argmax(dim=1)  # (B,) uniform among the starts that fit
        source[rows, slot] = start
        occupied[rows, start] = True
        occupied[rows, start + d[:, 0]] = True
        if extras:
            short = ~is_long[rows, slot]  # (B,)
            chosen = _between(occupied, start, start + d[:, 0], extras, generator)  # (B, extras)
            extra[rows, slot] = torch.where(short[:, None], chosen, extra[rows, slot])
            occupied.scatter_(1, chosen, short[:, None].expand_as(chosen) | occupied.gather(1, chosen))

    for step in range(k if extras else 0):  # the long instances' in-between tokens, in the same order
        slot = order[:, step]
        long = is_long[rows, slot]
        start = source[rows, slot]
        chosen = _between(occupied, start, start + distance[rows, slot], extras, generator)
        extra[rows, slot] = torch.where(long[:, None], chosen, extra[rows, slot])
        occupied.scatter_(1, chosen, long[:, None].expand_as(chosen) | occupied.gather(1, chosen))
    return source, source + distance, extra


def _between(occupied: torch.Tensor, start: torch.Tensor, end: torch.Tensor, count: int,
             generator: torch.Generator) -> torch.Tensor:
    """(B, count) distinct free positions strictly between start and end (B,), uniformly at random."""
    positions = torch.arange(occupied.shape[1], device=occupied.device)[None, :]
    allowed = ~occupied & (positions > start[:, None]) & (positions < end[:, None])
    scores = torch.rand(occupied.shape, generator=generator, device=occupied.device)
    return torch.where(allowed, scores, -1.0).topk(count, dim=1).indices  # the allowed ones with the top scores


class InstanceTask(Task):
    """Base of the tasks whose layout is k independent (source, query) instances per sequence.

    A subclass sets ``seq_len`` and calls ``super().__init__(distances, eval_distances, instances)``, sets
    ``extras_per_instance`` (positions each instance needs strictly between its source and its query), and
    implements ``_sample(batch_size, distance, generator)`` with ``distance`` of shape (B, k), usually through
    ``place_instances``. ``max_distance`` and the natural distribution come from here.
    """

    extras_per_instance = 0

    def __init__(self, distances, eval_distances, instances: int):
        self.instances = require_int("task.instances", instances, 1)
        shortest = min_seq_len(self.instances, self.extras_per_instance, self.min_distance, self.min_distance)
        if self.seq_len < shortest:
            raise TaskConfigError(
                f"task.instances={instances}, task.seq_len={self.seq_len}: {instances} instances need "
                f"seq_len >= {shortest} even at the shortest distance, {self.min_distance} "
                "(or lower task.instances)")
        super().__init__(distances, eval_distances)

    @property
    def max_distance(self) -> int:
        return self.seq_len - (2 * self.instances - 1)  # k sources within the first 2k - 1 positions

    def distance_limits(self, distance: int | None = None) -> str:
        if self.instances == 1:
            return f"task.seq_len={self.seq_len} sets the maximum"
        note = f"task.seq_len={self.seq_len} and task.instances={self.instances} set the maximum"
        if distance is not None and distance > self.max_distance:
            needed = min_seq_len(self.instances, self.extras_per_instance, self.min_distance, distance)
            note += (f": {self.instances} instances need seq_len >= {needed} at distances up to {distance}, "
                     "or lower task.instances")
        return note

    def natural_weights(self, distances: list[int]) -> list[float]:
        """Each instance's distance in proportion to the places a lone instance at it fits: seq_len - d, as if
        its source and its query were uniform over all legal pairs of positions."""
        return [float(self.seq_len - d) for d in distances]
