"""The adding problem, as classification: pairs of marked digits among many, and a query for each pair's sum."""

from __future__ import annotations

import math

import torch

from tasks.base import IGNORE, NO_DISTANCE, Batch, random_tokens, require_int
from tasks.instances import InstanceTask, place_instances


class Adding(InstanceTask):
    """A sequence of digits with k marked pairs; the query of pair i asks for the sum of its two digits.

    Each position holds one digit. A marked digit is its own token and names its instance (digit 3 unmarked
    is ``3``, marked for instance i is ``3:i``), so marking costs no extra position. The query ``?i`` of
    instance i stands exactly d_i steps after the first of its two marked digits; the second is uniform
    among the free positions between them. Each query is scored; its distance is d_i, the step back to the
    first (farther) marked digit. Sampled at one distance d, every instance is at d. Worked example, k = 2,
    d = 5, digits 0..9:

        position   0  1    2    3  4    5    6   7   8  9  10 11 12 13
        inputs     7  3:0  2:1  5  6:0  4:1  ?0  ?1  1  0  9  4  2  5
        targets    -  -    -    -  -    -    9   6   -  -  -  -  -  -
        distance   -  -    -    -  -    -    5   5   -  -  -  -  -  -

    The answer is a class in 0..2(n - 1), n = num_digits. Both digits are uniform and independent, so the
    best guess that uses no memory is the mode of their sum, n - 1, right n / n^2 = 1 / n of the time:
    chance is 0.1 for ten digits. ``memoryless_cross_entropy`` is the entropy of that triangular
    distribution, the classification form of the classic baseline (always predict the mean). Either digit
    alone leaves the answer at chance: both must be remembered. The queries stand wherever the layout puts
    them (tasks/instances.py), not at the end, so the position of a query says nothing about where its
    digits are. Natural distribution: each instance's distance in proportion to seq_len - d.

    Sources: Hochreiter & Schmidhuber (1997), "Long Short-Term Memory", Neural Computation 9(8),
    experiment 4; Arjovsky, Shah & Bengio (2016), "Unitary Evolution Recurrent Neural Networks", ICML; Bai,
    Kolter & Koltun (2018), "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for
    Sequence Modeling", arXiv:1803.01271. There the inputs are real numbers, one query at the end and the
    target a regression; here digits, a class (so accuracy is defined), and k queries per sequence.
    """

    min_distance = 2  # the second marked digit needs a position between the first and the query
    extras_per_instance = 1  # that second marked digit

    def __init__(self, distances, eval_distances=None, seq_len: int = 64, num_digits: int = 10,
                 instances: int = 4):
        self.seq_len = require_int("task.seq_len", seq_len, 3)
        self.num_digits = require_int("task.num_digits", num_digits, 2)
        super().__init__(distances, eval_distances, instances)
        n, k = self.num_digits, self.instances
        self.marked = n  # tokens: digits 0..n-1, digit j marked for instance i at n + i * n + j, the queries
        self.query = n + k * n
        self.vocab_size = n + k * n + k
        self.num_classes = 2 * n - 1
        ways = [n - abs(total - (n - 1)) for total in range(2 * n - 1)]  # pairs of digits with each sum
        self.chance_accuracy = max(ways) / n**2
        self.memoryless_cross_entropy = -sum(w / n**2 * math.log(w / n**2) for w in ways)

    def distance_limits(self, distance=None):
        return "the second marked digit sets the minimum, 2; " + super().distance_limits(distance)

    def _sample(self, batch_size, distance, generator):
        n, k = self.num_digits, self.instances
        inputs = random_tokens(batch_size, self.seq_len, n, generator)  # (B, L)
        first_at, query_at, second_at = place_instances(distance, self.seq_len, 1, generator)  # (B, k) (B, k, 1)
        digits = random_tokens(batch_size, 2 * k, n, generator).view(batch_size, k, 2)  # (B, k, 2)
        instance = torch.arange(k, device=inputs.device)[None, :]  # (1, k)
        inputs.scatter_(1, first_at, self.marked + instance * n + digits[..., 0])
        inputs.scatter_(1, second_at[..., 0], self.marked + instance * n + digits[..., 1])
        inputs.scatter_(1, query_at, (self.query + instance).expand_as(query_at))
        targets = torch.full_like(inputs, IGNORE).scatter_(1, query_at, digits.sum(dim=2))
        distance_map = torch.full_like(inputs, NO_DISTANCE).scatter_(1, query_at, distance)
        return Batch(inputs, targets, distance_map)

    def answer_from_source(self, inputs, rows, sources, positions):
        """The digit marked at the source plus the other digit marked for the same instance, which lies between
        the source and the query."""
        n = self.num_digits
        sequences = inputs[rows] - self.marked  # (N, L): instance * n + digit where marked
        marked = (sequences >= 0) & (sequences < self.instances * n)
        source = inputs[rows, sources] - self.marked  # (N,)
        same_instance = marked & (sequences // n == (source // n)[:, None])
        between = torch.arange(self.seq_len, device=inputs.device)[None, :]
        between = (between > sources[:, None]) & (between < positions[:, None])
        other_digit = (sequences % n * (same_instance & between)).sum(dim=1)
        return source % n + other_digit
