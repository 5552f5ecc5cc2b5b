"""Brackets: a Dyck language with two bracket types; at every closing bracket, name the type it closes."""

from __future__ import annotations

import math

import torch

from tasks.base import IGNORE, NO_DISTANCE, Batch, Task, random_between, random_tokens, require_fraction, require_int


class Brackets(Task):
    """Nested brackets of num_types types: every closing position asks which type it closes.

    Tokens: one opening bracket per type (``(``, ``[``; the token id is the type),
    one closing token ``)`` that does not show its type, and a neutral filler
    ``.``. Every closing bracket is scored: its answer is the type of its
    matching opening bracket, its distance the step back to it. Worked example,
    d = 6, two types:

        position   0  1  2  3  4  5  6  7  8  9
        inputs     (  [  (  )  .  [  )  )  )  (
        targets    -  -  -  (  -  -  [  [  (  -
        distance   -  -  -  1  -  -  1  6  8  -

    The sequence is a random walk on the nesting depth: each position is a
    filler with probability filler_prob, else an opening or a closing bracket
    with equal probability (the critical walk, whose matching distances are
    heavy-tailed, so long ones occur); a closing bracket with nothing to close
    becomes a filler. Brackets left open at the end are not scored. Sampling at
    distance d plants one opening bracket and its closing bracket exactly d
    steps apart, with a balanced walk between them (opening brackets it leaves
    unclosed become fillers), so nesting between them is real and fillers
    let any d >= 1 occur (without them, matching distances would all be odd).

    Types are uniform and independent of the structure, and a closing token
    does not show its type, so chance is 1 / num_types; the structure alone
    says nothing about the type. Natural distribution (``sample`` with no
    distance): the walk alone, nothing planted, whose matching distances are
    heavy-tailed (short ones most common); a sequence with no closing bracket
    scores nothing, which is rare except with a large filler_prob on a short
    sequence.

    Sources: bracket languages as the deterministic context-free probes that
    need a stack, Delétang et al. (2023), "Neural Networks and the Chomsky
    Hierarchy", ICLR; Dyck-n as a probe of sequence models, Suzgun, Gehrmann,
    Belinkov & Shieber (2019), "LSTM Networks Can Perform Dynamic Counting",
    ACL Workshop on Deep Learning and Formal Languages.
    """

    def __init__(self, distances, eval_distances=None, seq_len: int = 64, num_types: int = 2,
                 filler_prob: float = 0.25):
        self.seq_len = require_int("task.seq_len", seq_len, 2)
        self.num_types = require_int("task.num_types", num_types, 2)
        self.filler_prob = require_fraction("task.filler_prob", filler_prob)
        super().__init__(distances, eval_distances)
        self.close, self.filler = self.num_types, self.num_types + 1  # tokens: openers 0..T-1, close, filler
        self.vocab_size = self.num_types + 2
        self.num_classes = self.num_types
        self.chance_accuracy = 1.0 / self.num_types
        self.memoryless_cross_entropy = math.log(self.num_types)

    @property
    def max_distance(self) -> int:
        return self.seq_len - 1  # open at position 0, close at the last position

    def _steps(self, shape, generator) -> torch.Tensor:
        """(B, L) i.i.d. depth steps: +1 open, -1 close, 0 filler."""
        uniform = torch.rand(shape, generator=generator, device=generator.device)
        half = (1.0 - self.filler_prob) / 2
        return (uniform < half).long() - ((uniform >= half) & (uniform < 2 * half)).long()

    def _sample(self, batch_size, distance_per_row, generator):
        shape, length = (batch_size, self.seq_len), self.seq_len
        positions = torch.arange(length, device=generator.device)[None, :]  # (1, L)
        d = distance_per_row
        close_at = random_between(d, torch.full_like(d, length - 1), generator)[:, None]  # (B, 1)
        open_at = close_at - d[:, None]
        between = (positions > open_at) & (positions < close_at)

        # Between the planted pair: a walk kept >= 0, and balanced by turning its unclosed openers into fillers.
        inner = without_unmatched_closes(torch.where(between, self._steps(shape, generator), 0))
        depth = inner.cumsum(dim=1)
        lowest_ahead = torch.where(between, depth, length).flip(1).cummin(dim=1).values.flip(1)
        unclosed = (inner == 1) & (lowest_ahead >= depth)  # depth never returns below this opener's level
        inner = torch.where(unclosed, 0, inner)

        steps = self._steps(shape, generator)
        steps = torch.where(between, inner, steps)
        steps = torch.where(positions == open_at, 1, torch.where(positions == close_at, -1, steps))
        return self._scored(steps, generator)  # leaves the planted pair and the balanced walk inside it alone

    def _sample_natural(self, batch_size, generator):
        """The random walk alone, nothing planted."""
        return self._scored(self._steps((batch_size, self.seq_len), generator), generator)

    def _scored(self, steps, generator) -> Batch:
        """Unmatched closes made fillers, bracket types drawn, and every closing bracket scored."""
        batch_size, length = steps.shape
        positions = torch.arange(length, device=steps.device)[None, :]  # (1, L)
        steps = without_unmatched_closes(steps)
        types = random_tokens(batch_size, length, self.num_types, generator)
        opener = matching_opener(steps)  # (B, L)
        is_close = steps == -1
        inputs = torch.where(steps == 1, types, torch.where(is_close, self.close, self.filler))
        targets = torch.where(is_close, inputs.gather(1, opener.clamp(min=0)), IGNORE)
        distance = torch.where(is_close, positions - opener, NO_DISTANCE)
        return Batch(inputs, targets, distance)


def without_unmatched_closes(steps: torch.Tensor) -> torch.Tensor:
    """Turn every closing step (-1) that would take the depth below zero into a filler (0).

    The reflected walk: a close is unmatched exactly when the free walk reaches a new minimum below 0 there."""
    walk = steps.cumsum(dim=1)
    lowest_before = torch.cat([torch.zeros_like(walk[:, :1]), walk[:, :-1]], dim=1).clamp(max=0).cummin(dim=1).values
    return torch.where(walk < lowest_before, 0, steps)


def matching_opener(steps: torch.Tensor) -> torch.Tensor:
    """(B, L) position of the opening bracket that each closing step matches (-1 elsewhere).

    At a given depth level, openers and closers alternate in time (open, close, open, ...), so sorting the
    brackets by (level, position) puts each closer right after its opener."""
    batch_size, length = steps.shape
    depth = steps.cumsum(dim=1)
    level = torch.where(steps == 1, depth, depth + 1)  # an opener's depth after it, a closer's depth before it
    positions = torch.arange(length, device=steps.device).expand(batch_size, length)
    key = torch.where(steps != 0, level * length + positions, (length + 2) * length + positions)
    order = key.argsort(dim=1)  # (B, L) positions sorted by (level, position); fillers last
    previous = torch.cat([torch.full_like(order[:, :1], -1), order[:, :-1]], dim=1)
    opener = torch.full_like(steps, -1).scatter(1, order, previous)
    return torch.where(steps == -1, opener, -1)
