"""The task contract shared by every synthetic long-range dependency task.

A task owns its data and its truth. It makes batches on demand with
``sample(batch_size, generator, distance=None) -> Batch`` and exposes
``vocab_size``, ``num_classes``, ``seq_len`` and ``chance_accuracy``.

Every scored position carries its dependency *distance*: how many steps back
the information that answers it lies. Analysis groups accuracy by that number,
so a task never has to agree with the harness on what "distance d" means for a
whole sequence; the per-position truth travels with the batch (as in Zoology,
where every example is tagged with its difficulty axes).

Batches are made on the generator's device, so on CUDA no data crosses the bus.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

IGNORE = -100  # target id of positions that are not scored (cross_entropy's ignore_index)
NO_DISTANCE = -1  # distance of positions that are not scored


class TaskConfigError(ValueError):
    """A task setting that cannot work; the message names the setting, its value and the limit."""


@dataclass
class Batch:
    inputs: torch.Tensor  # (B, L) long: token ids in [0, vocab_size)
    targets: torch.Tensor  # (B, L) long: class ids in [0, num_classes), IGNORE where not scored
    distance: torch.Tensor  # (B, L) long: steps back to the answer, NO_DISTANCE where not scored

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.inputs.to(device), self.targets.to(device), self.distance.to(device))


def data_generator(task_name: str, seed: int, role: str, distance: int | None = None,
                   device: torch.device | str = "cpu") -> torch.Generator:
    """A dedicated generator for one (task, seed, role, distance) data stream.

    All four are folded into one CRC32: stable across processes and Python versions,
    unlike the salted built-in hash(). One 32-bit value on purpose: torch's CPU
    generator keeps only the low 32 bits of a seed, so a seed placed in the high bits
    would be silently dropped. Train and eval streams differ in the role, so no
    evaluation sequence is ever drawn from the training stream.
    """
    if role not in ("train", "val", "eval"):
        raise ValueError(f"role={role!r}: allowed are 'train', 'val' and 'eval'")
    generator = torch.Generator(device=device)
    generator.manual_seed(zlib.crc32(f"{task_name}/{role}/{distance}/seed={int(seed)}".encode()))
    return generator


def as_distances(key: str, value, low: int, high: int) -> list[int]:
    """Normalise a config value (one int or a list of ints) to a sorted list within [low, high]."""
    values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    if not values:
        raise TaskConfigError(f"{key}={value!r}: give one distance or a non-empty list")
    for item in values:
        if isinstance(item, bool) or not isinstance(item, int):
            raise TaskConfigError(f"{key}={value!r}: distances must be integers, got {item!r}")
        if not low <= item <= high:
            raise TaskConfigError(
                f"{key}={value!r}: every distance must lie in [{low}, {high}] for this task "
                f"(seq_len and the task's layout set the upper limit), got {item}")
    return sorted(set(values))


def require_int(key: str, value, low: int, high: int | None = None) -> int:
    """Check that a size-like setting is an integer within [low, high]."""
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise TaskConfigError(f"{key}={value!r}: must be an integer {allowed}")
    return value


def require_fraction(key: str, value, low: float = 0.0, high: float = 1.0) -> float:
    """Check that a probability-like setting is a number in [low, high)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
        raise TaskConfigError(f"{key}={value!r}: must be a number in [{low}, {high})")
    return float(value)


class Task:
    """Base class: holds the distance lists and draws one distance per sequence.

    Subclasses set ``vocab_size``, ``num_classes``, ``seq_len`` and
    ``chance_accuracy``, define ``max_distance`` and implement
    ``_sample(batch_size, distance_per_row, generator)``; they override
    ``min_distance`` and ``answer_from_source`` where the defaults do not fit.
    """

    min_distance = 1
    supports_untrained_distances = True
    # Optional: the cross-entropy (nats) per scored position of the best guess that uses no memory of the
    # sequence, for tasks where that baseline is informative (copy memory). Recorded in result.json.
    memoryless_cross_entropy: float | None = None

    def __init__(self, distances, eval_distances=None):
        high = self.max_distance
        self.distances = as_distances("task.distances", distances, self.min_distance, high)
        self.eval_distances = (self.distances if eval_distances is None
                               else as_distances("task.eval_distances", eval_distances, self.min_distance, high))

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def max_distance(self) -> int:
        raise NotImplementedError

    def producible(self, distance: int) -> bool:
        return self.min_distance <= distance <= self.max_distance

    def sample(self, batch_size: int, generator: torch.Generator, distance=None, weights=None) -> Batch:
        """A batch of fresh sequences; ``distance=None`` mixes the training distances uniformly."""
        choices = self.distances if distance is None else list(distance) if isinstance(distance, list) else [distance]
        if weights is not None:
            probabilities = torch.tensor(weights, device=generator.device)
            pick = torch.multinomial(probabilities, batch_size, replacement=True, generator=generator)
        else:
            pick = torch.randint(len(choices), (batch_size,), generator=generator, device=generator.device)
        distance_per_row = torch.tensor(choices, device=generator.device)[pick]  # (B,)
        return self._sample(batch_size, distance_per_row, generator)

    def _sample(self, batch_size: int, distance_per_row: torch.Tensor, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def answer_from_source(self, inputs: torch.Tensor, rows: torch.Tensor, sources: torch.Tensor,
                           positions: torch.Tensor) -> torch.Tensor:
        """The answer implied by the information ``distance`` steps back, for scored positions given as
        (row, source = position - distance, position). The contract test checks it against the targets.

        The default fits tasks that copy a token: the answer is the token at the source. A task whose answer
        is computed from what the source holds (a bracket type, a sum, a bit) overrides this."""
        return inputs[rows, sources]


def random_tokens(batch_size: int, seq_len: int, vocab: int, generator: torch.Generator) -> torch.Tensor:
    """(B, L) tokens drawn uniformly from [0, vocab) on the generator's device."""
    return torch.randint(vocab, (batch_size, seq_len), generator=generator, device=generator.device)


def random_order(allowed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, N) slot indices of each row: its allowed slots first, in uniformly random order, then the rest.

    ``random_order(allowed, g)[:, :k]`` picks k allowed slots per row without replacement, and
    ``random_order(allowed, g).argsort(dim=1)`` gives each slot its rank, so ``allowed & (rank < count)``
    picks a different number of slots per row; neither needs a loop over the batch."""
    scores = torch.rand(allowed.shape, generator=generator, device=generator.device)
    return torch.where(allowed, scores, 2.0).argsort(dim=1)


def random_between(low: torch.Tensor, high: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B,) integers drawn uniformly from [low, high] (inclusive, one range per row; needs low <= high)."""
    uniform = torch.rand(low.shape, generator=generator, device=generator.device)
    return low + (uniform * (high - low + 1)).long()
