"""n-back: at every position, name the token seen exactly d steps earlier."""

from __future__ import annotations

import torch

from tasks.base import IGNORE, NO_DISTANCE, Batch, Task, random_tokens, require_int


class NBack(Task):
    """The plainest probe of a context window: every position asks for the symbol d steps back.

    Every token carries the lag it asks about: token = lag index * num_symbols + symbol.
    With one training distance this is plain n-back; with several (``train.protocol=mixed``)
    each sequence draws its lag, and the model reads it from the token in front of it
    rather than from a distant cue, so difficulty comes from the distance alone. Every
    position t >= d is scored; its answer is the symbol at t - d. Worked example, d = 2,
    symbols a..h (the lag tag shown after the bar):

        position   0    1    2    3    4    5
        inputs     c|2  a|2  f|2  c|2  b|2  b|2
        targets    -    -    c    a    f    c
        distance   -    -    2    2    2    2

    Symbols are uniform and independent, so no guess that ignores the sequence
    beats 1 / num_symbols (the chance accuracy).

    The lag tags cover the training and evaluation distances (``task.distances``
    and ``task.eval_distances``), and only those lags can be sampled
    (``producible``). An evaluation distance outside training meets a tag the
    model never saw, an embedding that was never trained: on n-back,
    extrapolation beyond the trained distances is not meaningful, and neither
    is a held-out distance inside the training range, so
    ``supports_untrained_distances`` is False. Natural distribution (``sample``
    with no distance): each sequence draws its lag uniformly from the tags.

    Source: the n-back task of working-memory research (Kirchner, 1958, "Age
    differences in short-term retention of rapidly changing information",
    J. Exp. Psychol. 55(4)), here as a sequence-model probe with a controlled lag.
    """

    supports_untrained_distances = False  # a lag never trained has a tag embedding never trained

    def __init__(self, distances, eval_distances=None, seq_len: int = 128, num_symbols: int = 8):
        self.seq_len = require_int("task.seq_len", seq_len, 2)
        self.num_symbols = require_int("task.num_symbols", num_symbols, 2)
        self.lags = None  # while the settings are checked, any distance in range will do
        super().__init__(distances, eval_distances)
        self.lags = sorted(set(self.distances) | set(self.eval_distances))
        self._lag_tables: dict[str, torch.Tensor] = {}  # the lags on each device, made once
        self.vocab_size = self.num_symbols * len(self.lags)
        self.num_classes = self.num_symbols
        self.chance_accuracy = 1.0 / self.num_symbols

    @property
    def max_distance(self) -> int:
        return self.seq_len - 1  # the answer sits at t - d >= 0, the question at t <= seq_len - 1

    def producible(self, distance):
        return super().producible(distance) and (self.lags is None or distance in self.lags)

    def distance_limits(self, distance=None):
        return (f"task.seq_len={self.seq_len} sets the range; lag tags exist only for task.distances and "
                "task.eval_distances")

    def _lag_table(self, device) -> torch.Tensor:
        """The sorted lags as a tensor on ``device``, made once (a copy to the GPU every step would sync)."""
        if str(device) not in self._lag_tables:
            self._lag_tables[str(device)] = torch.tensor(self.lags, device=device)
        return self._lag_tables[str(device)]

    def _sample(self, batch_size, distance_per_row, generator):
        symbols = random_tokens(batch_size, self.seq_len, self.num_symbols, generator)  # (B, L)
        lag_index = torch.searchsorted(self._lag_table(symbols.device), distance_per_row)  # (B,)
        inputs = lag_index[:, None] * self.num_symbols + symbols  # (B, L): every token carries its lag

        positions = torch.arange(self.seq_len, device=symbols.device)
        source = positions[None, :] - distance_per_row[:, None]  # (B, L): where each answer lies
        scored = source >= 0
        targets = torch.where(scored, symbols.gather(1, source.clamp(min=0)), IGNORE)
        distance = torch.where(scored, distance_per_row[:, None], NO_DISTANCE)
        return Batch(inputs, targets, distance)

    def answer_from_source(self, inputs, rows, sources, positions):
        return inputs[rows, sources] % self.num_symbols  # the symbol part of the token d steps back
