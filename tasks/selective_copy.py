"""Selective copying: k data tokens scattered among noise; after a delimiter, reproduce them in order."""

from __future__ import annotations

import torch

from tasks.base import IGNORE, NO_DISTANCE, Batch, random_between, random_order, random_tokens
from tasks.copy import Copy


class SelectiveCopy(Copy):
    """Copy memory with random spacing: the model must pick the data tokens out of the noise by content.

    The first seq_len - k - 1 positions hold k data symbols at random positions
    and the noise token ``.`` everywhere else; the delimiter ``:`` follows, and
    the last k positions (noise tokens as input) must name the data symbols in
    their order of appearance. Only those k outputs are scored; output i's
    distance is the step back to the i-th data symbol, so the outputs of one
    sequence have different distances. Sampling at distance d places one data
    symbol (a random one of the k) exactly d steps before its output and the
    others at random around it, keeping their order. Natural distribution
    (``sample`` with no distance): Mamba's generator, nothing planted; the k
    data positions uniform among the first seq_len - k - 1. Worked example, k = 3,
    d = 6, symbols a..h:

        position   0  1  2  3  4  5  6  7  8  9  10 11
        inputs     .  c  .  .  a  .  f  .  :  .  .  .
        targets    -  -  -  -  -  -  -  -  -  c  a  f
        distance   -  -  -  -  -  -  -  -  -  8  6  5

    Symbols are uniform and independent, so chance is 1 / num_symbols and the
    memoryless cross-entropy ln(num_symbols) per scored position.

    Source: Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with
    Selective State Spaces", arXiv:2312.00752, its selective copying task, a
    variant of the copy-memory task of Arjovsky, Shah & Bengio (2016).

    Everything but the layout is copy memory's: the settings and their checks, the
    tokens (Copy's blank serves as the noise), chance, and the distance bounds
    (k + 1 up to seq_len - k, the same extremes).
    """

    def _sample(self, batch_size, distance_per_row, generator):
        k, context = self.num_items, self.seq_len - self.num_items - 1  # the delimiter sits at `context`
        device = generator.device
        anchor = random_between(torch.zeros_like(distance_per_row), torch.full_like(distance_per_row, k - 1),
                                generator)  # (B,) which output has distance d
        anchor_at = context + 1 + anchor - distance_per_row  # (B,) where its symbol goes
        slots = torch.arange(context, device=device)[None, :]  # (1, C)
        before = slots < anchor_at[:, None]
        after = slots > anchor_at[:, None]
        pick_before = before & (random_order(before, generator).argsort(dim=1) < anchor[:, None])
        pick_after = after & (random_order(after, generator).argsort(dim=1) < (k - 1 - anchor)[:, None])
        chosen = pick_before | pick_after | (slots == anchor_at[:, None])  # (B, C), k per row
        return self._from_data_positions(torch.where(chosen, slots, context), generator)

    def _sample_natural(self, batch_size, generator):
        """Mamba's generator, nothing planted: k data positions uniform among the context's."""
        context = self.seq_len - self.num_items - 1
        slots = torch.ones(batch_size, context, dtype=torch.bool, device=generator.device)
        return self._from_data_positions(random_order(slots, generator)[:, :self.num_items], generator)

    def _from_data_positions(self, chosen, generator) -> Batch:
        """The batch whose data symbols stand at the k smallest entries of ``chosen`` (B, >= k) per row."""
        k, context = self.num_items, self.seq_len - self.num_items - 1  # the delimiter sits at `context`
        batch_size, device = chosen.shape[0], chosen.device
        data_at = chosen.sort(dim=1).values[:, :k]  # (B, k) ascending; no host sync
        symbols = random_tokens(batch_size, k, self.num_symbols, generator)  # (B, k)
        inputs = torch.full((batch_size, self.seq_len), self.blank, device=device)  # the noise
        inputs.scatter_(1, data_at, symbols)
        inputs[:, context] = self.delimiter
        output_at = context + 1 + torch.arange(k, device=device)[None, :]  # (1, k)
        targets = torch.full_like(inputs, IGNORE)
        targets[:, context + 1:] = symbols
        distance = torch.full_like(inputs, NO_DISTANCE)
        distance[:, context + 1:] = output_at - data_at
        return Batch(inputs, targets, distance)
