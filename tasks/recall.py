"""Recall: remember marked values among noise and name each one when its query appears d steps later."""

from __future__ import annotations

import torch

from tasks.base import IGNORE, NO_DISTANCE, Batch, random_tokens, require_int
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
    """

    def __init__(self, distances, eval_distances=None, seq_len: int = 128, num_symbols: int = 8,
                 instances: int = 4):
        self.seq_len = require_int("task.seq_len", seq_len, 2)
        self.num_symbols = require_int("task.num_symbols", num_symbols, 2)
        super().__init__(distances, eval_distances, instances)
        k, n = self.instances, self.num_symbols
        self.marked = n  # tokens: noise 0..n-1, the value v of instance i at n + i * n + v, the query of i
        self.query = n + k * n
        self.vocab_size = n + k * n + k
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

    def answer_from_source(self, inputs, rows, sources, positions):
        return (inputs[rows, sources] - self.marked) % self.num_symbols  # the value part of the marked token
