"""Multi-query associative recall (MQAR): key-value pairs, then queries that name a key and ask for its value."""

from __future__ import annotations

import math

import torch

from tasks.base import (
    IGNORE,
    NO_DISTANCE,
    Batch,
    Task,
    TaskConfigError,
    random_between,
    random_order,
    random_tokens,
    require_int,
)


class AssocRecall(Task):
    """Key-value pairs first, then queries: at each query (a key seen before), name the value stored with it.

    The first 2 * num_pairs positions hold the pairs (key, value, key, value, ...);
    the rest is the query region, blanks ``_`` with num_queries queries at
    random positions. Keys within a sequence are distinct and each stored key is
    queried at most once, so every query has exactly one answer. A query's
    distance is the step back to the value it asks for (query position minus
    value position). Worked example, 3 pairs, 2 queries, d = 4, keys A..P,
    values a..h:

        position   0  1  2  3  4  5  6  7  8  9  10 11
        inputs     C  e  A  b  F  h  _  A  _  _  F  _
        targets    -  -  -  -  -  -  -  b  -  -  h  -
        distance   -  -  -  -  -  -  -  4  -  -  5  -

    Every query is scored with its own distance. Sampling at distance d places
    one query exactly d steps after the value of a pair chosen among those that
    allow it; the other queries ask for other keys at random free positions, so
    a batch at d also holds scored positions at other distances. Trained at one
    distance (train.protocol=per_distance), a model can answer the planted query
    by its offset alone, "the value d back", without matching keys; its accuracy
    on the other queries, at other distances, shows whether it matches keys, and
    a mixture of distances (train.protocol=mixed) takes the offset away.

    Natural distribution (``sample`` with no distance): Zoology's own layout,
    nothing planted; num_queries distinct stored keys queried at uniformly
    random positions of the query region.

    Pairs, queries and blanks occupy disjoint positions, blanks are their own
    token, never a key or a value: no query is overwritten by a context pair and
    no filler looks like a query, unlike Zoology's generator (its issue 29).
    Values are uniform and independent of the keys, so chance is 1 / num_values.

    The load is ``num_pairs``: ``pending`` counts, at each query, the pairs
    stored and not yet asked, its own included. ``num_queries: null`` asks for
    every stored pair once, as Zoology's MQAR does, and is what a load sweep
    uses: each pair is then held exactly until its own query, so the load a
    query sees is read from the sequence, not assumed, and the labels per
    sequence grow with the load as recall's do. With fewer queries than pairs,
    the pairs never asked stay pending to the end: nothing in the sequence
    tells a model which keys will not be asked. ``num_keys`` sizes the
    vocabulary; a load sweep sets it to its largest load, so the vocabulary and
    every model's parameter count stay the same at every load. Any number of
    pairs up to num_keys fits any sequence of at least 2 * num_pairs +
    max(2, num_queries) tokens, at every distance in [1, seq_len - 2].

    Source: Arora, Eyuboglu, Timalsina, Johnson, Poli, Zou, Rudra & Ré (2023),
    "Zoology: Measuring and Improving Recall in Efficient Language Models",
    arXiv:2312.04927 (ICLR 2024).
    """

    load_key = "num_pairs"  # the constructor key whose value is the load a sequence holds

    def __init__(self, distances, eval_distances=None, seq_len: int = 64, num_pairs: int = 4,
                 num_queries: int | None = 4, num_keys: int = 16, num_values: int = 8):
        self.seq_len = require_int("task.seq_len", seq_len, 4)
        self.num_pairs = require_int("task.num_pairs", num_pairs, 1)
        self.num_queries = num_pairs if num_queries is None else require_int("task.num_queries", num_queries, 1)
        self.num_keys = require_int("task.num_keys", num_keys, 1)
        self.num_values = require_int("task.num_values", num_values, 2)
        if num_pairs > num_keys:
            raise TaskConfigError(
                f"task.num_pairs={num_pairs}: more key-value pairs than distinct keys (num_keys={num_keys})")
        if self.num_queries > num_pairs:
            raise TaskConfigError(f"task.num_queries={num_queries}: more queries than key-value pairs "
                                  f"(num_pairs={num_pairs}); each stored key is queried at most once")
        room, needed = seq_len - 2 * num_pairs, max(2, self.num_queries)
        if room < needed:
            raise TaskConfigError(
                f"task.seq_len={seq_len}: the pairs take 2 * num_pairs = {2 * num_pairs} tokens, leaving {room} "
                f"for the queries; need at least max(2, num_queries={self.num_queries}), so task.num_pairs="
                f"{num_pairs} needs seq_len >= {2 * num_pairs + needed} (or lower task.num_pairs)")
        super().__init__(distances, eval_distances)
        self.blank = self.num_values + self.num_keys  # tokens: values 0..V-1, keys V..V+K-1, blank
        self.vocab_size = self.num_values + self.num_keys + 1
        self.num_classes = self.num_values
        self.chance_accuracy = 1.0 / self.num_values
        self.memoryless_cross_entropy = math.log(self.num_values)

    @property
    def max_distance(self) -> int:
        return self.seq_len - 2  # the first value at position 1, a query at the last position

    def distance_limits(self, distance=None):
        note = f"task.seq_len={self.seq_len} sets the maximum, seq_len - 2"
        if distance is not None and distance > self.max_distance:
            note += f": distance {distance} needs seq_len >= {distance + 2}"
        return note

    def pending(self, batch: Batch) -> torch.Tensor:
        """(B, L) long: at each scored position, the pairs stored before it and not asked before it, its own
        included: what a model must hold there. NO_DISTANCE where nothing is scored.

        Read from the tokens alone: values stand only in the pair region and queries only after it, so the
        values seen before t minus the queries seen before t are the pairs still open at t."""
        after_pairs = torch.arange(self.seq_len, device=batch.inputs.device)[None, :] >= 2 * self.num_pairs
        stored = (batch.inputs < self.num_values).long()  # (B, L)
        asked = ((batch.inputs != self.blank) & after_pairs).long()  # (B, L)
        held = (stored.cumsum(dim=1) - stored) - (asked.cumsum(dim=1) - asked)  # strictly before each position
        return torch.where(batch.targets != IGNORE, held, NO_DISTANCE)

    def _sample(self, batch_size, distance_per_row, generator):
        n, length, d = self.num_pairs, self.seq_len, distance_per_row
        inputs, keys, values = self._pairs(batch_size, generator)
        # The anchor query: pair i with its value at 2i + 1 and the query at 2i + 1 + d inside the query region.
        anchor_pair = random_between((2 * n - d).clamp(min=0) // 2, ((length - 2 - d) // 2).clamp(max=n - 1),
                                     generator)  # (B,)
        return self._queries(inputs, keys, values, anchor_pair, 2 * anchor_pair + 1 + d, generator)

    def _sample_natural(self, batch_size, generator):
        """Zoology's layout, nothing planted: num_queries distinct stored keys at random query positions."""
        inputs, keys, values = self._pairs(batch_size, generator)
        return self._queries(inputs, keys, values, None, None, generator)

    def _pairs(self, batch_size, generator):
        """(inputs with the pairs written and blanks elsewhere, keys (B, n), values (B, n))."""
        n, device = self.num_pairs, generator.device
        all_keys = torch.ones(batch_size, self.num_keys, dtype=torch.bool, device=device)
        keys = random_order(all_keys, generator)[:, :n]  # (B, n): distinct keys
        values = random_tokens(batch_size, n, self.num_values, generator)  # (B, n)
        inputs = torch.full((batch_size, self.seq_len), self.blank, device=device)
        inputs[:, 0:2 * n:2] = self.num_values + keys
        inputs[:, 1:2 * n:2] = values
        return inputs, keys, values

    def _queries(self, inputs, keys, values, anchor_pair, anchor_at, generator) -> Batch:
        """Queries for the anchor pair at anchor_at (None: no anchor) and for other pairs at other free positions
        of the query region, each scored with its value and its distance."""
        batch_size, device, n = inputs.shape[0], inputs.device, self.num_pairs
        rows = torch.arange(batch_size, device=device)[:, None]  # (B, 1)
        pair_index = torch.arange(n, device=device)[None, :]  # (1, n)
        slots = torch.arange(self.seq_len, device=device)[None, :]  # (1, L)
        if anchor_pair is None:
            queried = random_order((pair_index >= 0).expand(batch_size, n), generator)[:, :self.num_queries]
            query_at = random_order((slots >= 2 * n).expand_as(inputs), generator)[:, :self.num_queries]
        else:
            other_pairs = random_order(pair_index != anchor_pair[:, None], generator)
            other_at = random_order((slots >= 2 * n) & (slots != anchor_at[:, None]), generator)
            queried = torch.cat([anchor_pair[:, None], other_pairs[:, :self.num_queries - 1]], dim=1)  # (B, q)
            query_at = torch.cat([anchor_at[:, None], other_at[:, :self.num_queries - 1]], dim=1)  # (B, q)

        inputs[rows, query_at] = self.num_values + keys.gather(1, queried)
        targets = torch.full_like(inputs, IGNORE)
        targets[rows, query_at] = values.gather(1, queried)
        distance = torch.full_like(inputs, NO_DISTANCE)
        distance[rows, query_at] = query_at - (2 * queried + 1)
        return Batch(inputs, targets, distance)
