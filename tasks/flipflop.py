"""Flip-flop language: write, ignore and read instructions; every read must return the last written bit."""

from __future__ import annotations

import math

import torch

from tasks.base import (
    IGNORE,
    NO_DISTANCE,
    Batch,
    Task,
    random_between,
    random_tokens,
    require_fraction,
    require_int,
)

WRITE, IGNORE_INSTRUCTION, READ = 0, 2, 4  # tokens: w0 w1 (write a bit), i0 i1 (ignore a bit), r (read)


class FlipFlop(Task):
    """A one-bit memory: remember the last written bit across ignore instructions and reads.

    Every position is one instruction: ``w0``/``w1`` writes a bit, ``i0``/``i1``
    carries a bit to ignore, ``r`` reads. Each read is scored: its answer is the
    bit of the most recent write, its distance the step back to that write (no
    write stands between, by definition). Position 0 is always a write. Worked
    example, d = 4, ignore_prob = 0.6:

        position   0   1   2   3   4   5   6   7   8   9
        inputs     w1  i0  w0  i1  r   i1  r   w1  i0  r
        targets    -   -   -   -   0   -   0   -   -   1
        distance   -   -   -   -   2   -   4   -   -   2

    Instructions are drawn independently: ignore with probability ignore_prob,
    write or read with (1 - ignore_prob) / 2 each, so a sparse sequence (large
    ignore_prob) makes long distances. Sampling at distance d plants one read d
    steps after a write and draws the instructions between from ignore and read
    only (the i.i.d. law conditioned on "no write there"); the other reads keep
    their own distances. Written bits are uniform, so chance is 0.5. Natural
    distribution (``sample`` with no distance): the i.i.d. instructions with
    nothing planted, so a read's distance is geometric with mean about
    1 / p_write = 2 / (1 - ignore_prob) (10 at the default), cut at position 0.

    One change from the paper: there a read is followed by its bit, so a later
    read could copy that echo instead of the write and the distance to the write
    would overstate the dependency. Here a read carries no bit, and the answer
    exists only at the write. The write token of bit b has id b, so the
    default ``answer_from_source`` (the token at the source) is the bit.

    Source: Liu, Ash, Goel, Krishnamurthy & Zhang (2023), "Exposing Attention
    Glitches with Flip-Flop Language Modeling", NeurIPS.
    """

    def __init__(self, distances, eval_distances=None, seq_len: int = 128, ignore_prob: float = 0.8):
        self.seq_len = require_int("task.seq_len", seq_len, 2)
        self.ignore_prob = require_fraction("task.ignore_prob", ignore_prob)
        super().__init__(distances, eval_distances)
        self.vocab_size = READ + 1
        self.num_classes = 2
        self.chance_accuracy = 0.5
        self.memoryless_cross_entropy = math.log(2)

    @property
    def max_distance(self) -> int:
        return self.seq_len - 1  # the write at position 0, the read at the last position

    def _instructions(self, batch_size, generator, allow_writes: bool):
        """(B, L) instruction tokens, each with an independent bit; without writes, the law given "no write"."""
        p_read = (1.0 - self.ignore_prob) / 2
        uniform = torch.rand(batch_size, self.seq_len, generator=generator, device=generator.device)
        if not allow_writes:
            uniform = p_read + uniform * (1.0 - p_read)  # skip the write band [0, p_read)
        bits = random_tokens(batch_size, self.seq_len, 2, generator)
        kind = torch.where(uniform < p_read, WRITE, torch.where(uniform < 2 * p_read, READ, IGNORE_INSTRUCTION))
        return torch.where(kind == READ, READ, kind + bits)

    def _sample(self, batch_size, distance_per_row, generator):
        inputs = self._instructions(batch_size, generator, allow_writes=True)  # (B, L)
        no_writes = self._instructions(batch_size, generator, allow_writes=False)
        positions = torch.arange(self.seq_len, device=inputs.device)[None, :]  # (1, L)
        d = distance_per_row
        read_at = random_between(d, torch.full_like(d, self.seq_len - 1), generator)  # (B,)
        write_at = read_at - d
        between = (positions > write_at[:, None]) & (positions < read_at[:, None])
        inputs = torch.where(between, no_writes, inputs)
        planted_bit = random_tokens(batch_size, 1, 2, generator)  # (B, 1)
        inputs = torch.where(positions == write_at[:, None], WRITE + planted_bit, inputs)
        inputs = torch.where(positions == read_at[:, None], READ, inputs)
        return self._scored(inputs, generator)

    def _sample_natural(self, batch_size, generator):
        """The paper's i.i.d. instructions, nothing planted."""
        return self._scored(self._instructions(batch_size, generator, allow_writes=True), generator)

    def _scored(self, inputs, generator) -> Batch:
        """Position 0 made a write, then every read scored with the last written bit."""
        positions = torch.arange(self.seq_len, device=inputs.device)[None, :]  # (1, L)
        first_bit = random_tokens(inputs.shape[0], 1, 2, generator)[:, 0]
        inputs[:, 0] = torch.where(inputs[:, 0] < IGNORE_INSTRUCTION, inputs[:, 0], WRITE + first_bit)  # a write

        is_write = inputs < IGNORE_INSTRUCTION
        last_write = torch.where(is_write, positions, -1).cummax(dim=1).values  # (B, L); >= 0 as position 0 writes
        is_read = inputs == READ
        targets = torch.where(is_read, inputs.gather(1, last_write), IGNORE)
        distance = torch.where(is_read, positions - last_write, NO_DISTANCE)
        return Batch(inputs, targets, distance)
