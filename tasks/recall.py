"""Recall: remember marked values among noise and name each one when its query appears d steps later."""

from __future__ import annotations

import torch

from tasks.base import IGNORE, NO_DISTANCE, Batch, TaskConfigError, random_tokens, require_int
from tasks.instances import InstanceTask, place_instances


class Recall(InstanceTask):
    """k marked values among noise; the query for instance i, d_i steps after its value, asks for it.

    A value of instance i is its own token, ``c:i`` (value c marked for instance i), standing among noise
    symbols of the same alphabet; the query ``?i`` stands d_i steps after it and is a scored position.
    Every instance has its own distance; sampled at one distance d, all are at d. The instance index in
    both tokens says which value a query asks for, so instances cannot be confused, and the k queries
    give k labels per sequence. Worked example, k = 2, d = 4, symbols a..h:

        position   0  1    2  3    4  5   6  7   8  9
        inputs     e  c:1  a  f:0  b  ?1  c  ?0  d  h
        targets    -  -    -  -    -  c   -  f   -  -
        distance   -  -    -  -    -  4   -  4   -  -

    The values are uniform over the alphabet and independent of everything else, so chance is
    1 / num_symbols. The instances are placed at random (tasks/instances.py), so absolute position carries
    no clue. Natural distribution (``sample`` with no distance): each instance's distance in proportion to
    seq_len - d, its value and query positions uniform over the legal pairs.

    Source: the "remember a marked item over a delay" setting of Hochreiter & Schmidhuber (1997, "Long
    Short-Term Memory", Neural Computation 9(8), experiment 2), with a controlled delay, and k items scored
    at once as in Zoology's multi-query associative recall (Arora et al., 2023, arXiv:2312.04927). The
    mark is on the value token itself (no separate marker position before it), so finding the value is one
    look-up, not a marker-then-next-token composition; with ``instances: 1`` this is single-item recall.

    The load is ``instances``: ``pending`` counts, at each query, the values already read whose queries are
    still to come, its own included. It grows with the distance, as longer instances overlap more of the
    others: 32 instances in 249 steps leave about 2 pending at d = 8 and 16.5 at d = 128. The vocabulary
    holds value and query tokens for ``vocab_instances`` instances, so a load sweep that sets it to its
    largest load keeps the vocabulary, and with it every model's parameter count, the same at every load;
    the tokens of the instances beyond ``instances`` never occur.
    """

    load_key = "instances"  # the constructor key whose value is the load a sequence holds

    def __init__(self, distances, eval_distances=None, seq_len: int = 128, num_symbols: int = 8,
                 instances: int = 4, vocab_instances: int | None = None):
        self.seq_len = require_int("task.seq_len", seq_len, 2)
        self.num_symbols = require_int("task.num_symbols", num_symbols, 2)
        super().__init__(distances, eval_distances, instances)
        k, n = self.instances, self.num_symbols
        slots = k if vocab_instances is None else require_int("task.vocab_instances", vocab_instances, 1)
        if slots < k:
            raise TaskConfigError(
                f"task.vocab_instances={vocab_instances}: the vocabulary needs tokens for every one of "
                f"task.instances={k} instances; set it >= {k}, or null to size it for task.instances")
        self.vocab_instances = slots
        self.marked = n  # tokens: noise 0..n-1, the value v of instance i at n + i * n + v, the query of i
        self.query = n + slots * n
        self.vocab_size = n + slots * n + slots
        self.num_classes = n
        self.chance_accuracy = 1.0 / n

    def _sample(self, batch_size, distance, generator):
        n, k = self.num_symbols, self.instances
        inputs = random_tokens(batch_size, self.seq_len, n, generator)  # (B, L) the noise
        value_at, query_at, _ = place_instances(distance, self.seq_len, 0, generator)  # (B, k) each
        values = random_tokens(batch_size, k, n, generator)  # (B, k)
        instance = torch.arange(k, device=inputs.device)[None, :]  # (1, k)
        inputs.scatter_(1, value_at, self.marked + instance * n + values)
        inputs.scatter_(1, query_at, (self.query + instance).expand_as(query_at))
        targets = torch.full_like(inputs, IGNORE).scatter_(1, query_at, values)
        distance_map = torch.full_like(inputs, NO_DISTANCE).scatter_(1, query_at, distance)
        return Batch(inputs, targets, distance_map)

    def pending(self, batch: Batch) -> torch.Tensor:
        """(B, L) long: at each scored position, the instances whose value stands before it and whose query stands
        at or after it, its own included: what a model must hold there. NO_DISTANCE where nothing is scored.

        Read from the tokens alone: every value precedes its query, so the values seen before t minus the
        queries seen before t are exactly the instances still open at t."""
        stored = ((batch.inputs >= self.marked) & (batch.inputs < self.query)).long()  # (B, L)
        asked = (batch.inputs >= self.query).long()  # (B, L)
        held = (stored.cumsum(dim=1) - stored) - (asked.cumsum(dim=1) - asked)  # strictly before each position
        return torch.where(batch.targets != IGNORE, held, NO_DISTANCE)

    def answer_from_source(self, inputs, rows, sources, positions):
        return (inputs[rows, sources] - self.marked) % self.num_symbols  # the value part of the marked token
