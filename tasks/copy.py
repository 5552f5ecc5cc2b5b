"""Copy memory: k symbols, a gap of blanks, a delimiter, then reproduce the k symbols in order."""

from __future__ import annotations

import math

import torch

from tasks.base import IGNORE, NO_DISTANCE, Batch, Task, TaskConfigError, random_tokens, require_int


class Copy(Task):
    """The copy-memory task: hold k symbols across a gap, then write them out after a delimiter.

    Symbols fill positions 0..k-1, blanks ``_`` fill the gap, the delimiter ``:``
    says "start writing", and the k positions after it must name the k symbols in
    order. Only those k outputs are scored: scoring the blanks would let a model
    that does nothing look 99% right, a known trap in published code. Output i
    sits exactly d steps after symbol i, so every scored position has distance d
    and the gap is derived from it: d - k - 1 blanks (d = T + k in Arjovsky et
    al.'s notation, where T - 1 blanks stand between the symbols and the
    delimiter). Blanks pad the sequence after the outputs. Worked example,
    k = 3, d = 5 (one blank), symbols a..h:

        position   0  1  2  3  4  5  6  7  8  9
        inputs     c  a  f  _  :  _  _  _  _  _
        targets    -  -  -  -  -  c  a  f  -  -
        distance   -  -  -  -  -  5  5  5  -  -

    Symbols are uniform and independent, so chance is 1 / num_symbols and the
    best memoryless guess has cross-entropy ln(num_symbols) per scored position
    (``memoryless_cross_entropy``; Arjovsky et al. report the same baseline
    averaged over the whole sequence, blanks included, which makes it look tiny).
    Natural distribution (``sample`` with no distance): d uniform over
    [num_items + 1, seq_len - num_items], that is, the gap uniform.

    Sources: Hochreiter & Schmidhuber (1997), "Long Short-Term Memory", Neural
    Computation 9(8); the form used here is that of Arjovsky, Shah & Bengio
    (2016), "Unitary Evolution Recurrent Neural Networks", ICML, and Bai, Kolter
    & Koltun (2018), "An Empirical Evaluation of Generic Convolutional and
    Recurrent Networks for Sequence Modeling", arXiv:1803.01271.
    """

    def __init__(self, distances, eval_distances=None, seq_len: int = 64, num_items: int = 4,
                 num_symbols: int = 8):
        self.seq_len = require_int("task.seq_len", seq_len, 3)
        self.num_items = require_int("task.num_items", num_items, 1)
        self.num_symbols = require_int("task.num_symbols", num_symbols, 2)
        if 2 * self.num_items + 1 > self.seq_len:
            raise TaskConfigError(
                f"task.num_items={num_items}: the symbols, the delimiter and the outputs take 2 * num_items + 1 = "
                f"{2 * num_items + 1} tokens, more than task.seq_len={seq_len}")
        super().__init__(distances, eval_distances)
        self.blank, self.delimiter = self.num_symbols, self.num_symbols + 1
        self.vocab_size = self.num_symbols + 2
        self.num_classes = self.num_symbols
        self.chance_accuracy = 1.0 / self.num_symbols
        self.memoryless_cross_entropy = math.log(self.num_symbols)

    @property
    def min_distance(self) -> int:
        return self.num_items + 1  # no blanks: the delimiter follows the last symbol

    @property
    def max_distance(self) -> int:
        return self.seq_len - self.num_items  # the last output, at d + k - 1, is the last position

    def distance_limits(self, distance=None):
        return (f"task.num_items={self.num_items} sets the minimum, num_items + 1, and with "
                f"task.seq_len={self.seq_len} the maximum, seq_len - num_items")

    def _sample(self, batch_size, distance_per_row, generator):
        k = self.num_items
        symbols = random_tokens(batch_size, k, self.num_symbols, generator)  # (B, k)
        device = symbols.device
        positions = torch.arange(self.seq_len, device=device)[None, :]  # (1, L)
        d = distance_per_row[:, None]  # (B, 1)
        item = positions - d  # (B, L): which symbol a position would reproduce
        is_output = (item >= 0) & (item < k)
        answers = symbols.gather(1, item.clamp(0, k - 1))  # (B, L)

        inputs = torch.full((batch_size, self.seq_len), self.blank, device=device)
        inputs[:, :k] = symbols
        inputs = torch.where(positions == d - 1, self.delimiter, inputs)  # the delimiter just before output 0
        targets = torch.where(is_output, answers, IGNORE)
        distance = torch.where(is_output, d, NO_DISTANCE)
        return Batch(inputs, targets, distance)
