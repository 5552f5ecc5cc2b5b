"""The task contract shared by every synthetic long-range dependency task.

A task owns its data and its truth. It makes batches on demand with
``sample(batch_size, generator, distance=None, weights=None) -> Batch`` and exposes
``vocab_size``, ``num_classes``, ``seq_len`` and ``chance_accuracy``.

Every scored position carries its dependency *distance*: how many steps back
the information that answers it lies. Analysis groups accuracy by that number,
so a task never has to agree with the harness on what "distance d" means for a
whole sequence; the per-position truth travels with the batch (as in Zoology,
where every example is tagged with its difficulty axes).

What ``distance`` asks of ``sample``:

    task.sample(32, g, distance=16)                 # every planted dependency exactly 16 back
    task.sample(32, g, distance=[8, 16, 32])        # each one draws 8, 16 or 32, uniformly
    task.sample(32, g, distance=[8, 16, 32], weights=[4, 2, 1])   # ... with probabilities 4/7, 2/7, 1/7
    task.sample(32, g)                              # the task's natural distribution, nothing planted

Every requested distance is checked once, here, against ``producible``; a list
is checked on its first use and kept on the device, so a training loop that
passes the same list every step pays for neither the check nor a host sync.

Batches are made on the generator's device, so on CUDA no data crosses the bus.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

IGNORE = -100  # target id of positions that are not scored (cross_entropy's ignore_index)
NO_DISTANCE = -1  # distance of positions that are not scored
ROLES = ("train", "val", "eval")  # the data streams of one run: training, validation (model selection), test


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

    Roles: ``train`` (the training stream), ``val`` (a validation stream, for every decision: when a run
    stops, its verdict, which learning rate climbs) and ``eval`` (the test set that results are reported on). All four
    values are folded into one CRC32: stable across processes and Python versions, unlike the salted
    built-in hash(). One 32-bit value on purpose: torch's CPU generator keeps only the low 32 bits of a
    seed, so a seed placed in the high bits would be silently dropped. The roles differ in the seed, so no
    validation or evaluation sequence is ever drawn from the training stream.
    """
    if role not in ROLES:
        raise ValueError(f"role={role!r}: allowed are {', '.join(map(repr, ROLES))}")
    generator = torch.Generator(device=device)
    generator.manual_seed(zlib.crc32(f"{task_name}/{role}/{distance}/seed={int(seed)}".encode()))
    return generator


def is_list(value) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def short_repr(value, limit: int = 60) -> str:
    """repr() cut to ``limit`` characters, so a message about a list of 120 distances stays one line."""
    text = repr(list(value) if isinstance(value, (tuple, range)) else value)
    return text if len(text) <= limit else text[:limit - 4] + " ...]"


def describe_distances(distances: list[int]) -> str:
    """``2..135`` for a run of integers, else the list (shortened): for error messages."""
    if not distances:
        return "none"
    if distances == list(range(distances[0], distances[-1] + 1)):
        return f"{distances[0]}..{distances[-1]}"
    if len(distances) <= 8:
        return ", ".join(map(str, distances))
    return f"{distances[0]}, {distances[1]}, {distances[2]}, ..., {distances[-1]} ({len(distances)} distances)"


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
    """Base class: checks distances, draws them, and hands one distance per planted dependency to ``_sample``.

    Subclasses set ``vocab_size``, ``num_classes``, ``seq_len`` and ``chance_accuracy``, define
    ``max_distance`` and implement ``_sample(batch_size, distance, generator)``, where ``distance`` is a (B,)
    long tensor on the generator's device: the distance to plant in each row. A task that plants several
    independent instances per row sets ``instances = k`` and gets (B, k) instead (see tasks/instances.py).
    Where the defaults do not fit, a task overrides ``min_distance``, ``producible`` (a layout that can only
    make some distances in range), ``distance_limits`` (what sets the range, for error messages),
    ``_sample_natural`` (its distribution when nothing is planted) and ``answer_from_source``.

    ``distances`` and ``eval_distances`` are the curve the training loop trains and evaluates on; ``sample``
    never reads them, it samples what it is asked for.
    """

    min_distance = 1
    # One planted dependency per row (None), or k instances per row, each with its own distance.
    instances: int | None = None
    # False where evaluating at a distance inside the training range but never trained on is meaningless,
    # because an input token names the distance itself (n-back's lag tags).
    supports_untrained_distances = True
    # Optional: the cross-entropy (nats) per scored position of the best guess that uses no memory of the
    # sequence, for tasks where that baseline is informative (copy memory). Recorded in result.json.
    memoryless_cross_entropy: float | None = None

    def __init__(self, distances, eval_distances=None):
        self._mixtures: dict[tuple, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self.distances = self.check_distances("task.distances", distances)
        self.eval_distances = (self.distances if eval_distances is None
                               else self.check_distances("task.eval_distances", eval_distances))

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def max_distance(self) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ which distances

    def producible(self, distance: int) -> bool:
        """Whether ``sample`` can plant a dependency at exactly this distance (default: anywhere in range)."""
        return self.min_distance <= distance <= self.max_distance

    def producible_distances(self) -> list[int]:
        """Every distance ``sample`` can plant, ascending."""
        return [d for d in range(self.min_distance, self.max_distance + 1) if self.producible(d)]

    def distance_limits(self, distance: int | None = None) -> str:
        """What sets [min_distance, max_distance] and the producible set, for the message about ``distance``."""
        return f"task.seq_len={self.seq_len} and the layout set the limits"

    def check_distance(self, key: str, value, distance) -> int:
        """``distance`` itself if this task can plant it, else TaskConfigError naming ``key=value`` and the limit.

        The one place where any requested distance is checked: the settings at construction, and every
        distance that ``sample`` is asked for."""
        if isinstance(distance, bool) or not isinstance(distance, int):
            raise TaskConfigError(f"{key}={short_repr(value)}: distances must be integers, got {distance!r}")
        low, high = self.min_distance, self.max_distance
        if not low <= distance <= high:
            raise TaskConfigError(f"{key}={short_repr(value)}: every distance must lie in [{low}, {high}] for "
                                  f"this task ({self.distance_limits(distance)}), got {distance}")
        if not self.producible(distance):
            raise TaskConfigError(
                f"{key}={short_repr(value)}: this task cannot produce distance {distance}; it produces "
                f"{describe_distances(self.producible_distances())} ({self.distance_limits(distance)})")
        return distance

    def check_distances(self, key: str, value) -> list[int]:
        """A config value (one int or a non-empty list of ints), checked, as a sorted list without repeats."""
        values = list(value) if is_list(value) else [value]
        if not values:
            raise TaskConfigError(f"{key}={value!r}: give one distance or a non-empty list")
        return sorted({self.check_distance(key, value, item) for item in values})

    # ------------------------------------------------------------------------------------------ sampling

    def sample(self, batch_size: int, generator: torch.Generator, distance: int | Sequence[int] | None = None,
               weights: Sequence[float] | None = None) -> Batch:
        """A batch of fresh sequences, made on ``generator.device`` from ``generator``'s randomness alone.

        ``distance``: an int plants every scored dependency (every instance) at exactly that distance; a
        list lets each planted dependency draw its own distance from the list, uniformly or with
        probabilities proportional to ``weights``; None gives the task's natural distribution (its
        docstring says what that is). Raises TaskConfigError for a distance the task cannot plant."""
        if distance is None:
            if weights is not None:
                raise TaskConfigError(f"weights={short_repr(weights)}: weights need a list of distances")
            return self._sample_natural(batch_size, generator)
        device = generator.device
        shape = (batch_size,) if self.instances is None else (batch_size, self.instances)
        if not is_list(distance) and not isinstance(distance, torch.Tensor):
            if weights is not None:
                raise TaskConfigError(f"weights={short_repr(weights)}: weights need a list of distances, "
                                      f"got distance={distance!r}")
            distance = self.check_distance("distance", distance, distance)
            return self._sample(batch_size, torch.full(shape, distance, dtype=torch.long, device=device), generator)
        choices, cumulative = self._mixture(distance, weights, device)
        if cumulative is None:
            pick = torch.randint(len(choices), shape, generator=generator, device=device)
        else:  # inverse CDF; zero-weight choices have an empty interval and are never drawn
            uniform = torch.rand(shape, generator=generator, device=device)
            pick = torch.searchsorted(cumulative, uniform, right=True).clamp_(max=len(choices) - 1)
        return self._sample(batch_size, choices[pick], generator)

    def _mixture(self, distance, weights, device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(choices, cumulative probabilities or None for uniform) on ``device``, checked once per list."""
        for key, value in (("distance", distance), ("weights", weights)):
            if isinstance(value, torch.Tensor):
                raise TaskConfigError(f"{key}=<tensor>: give a list of numbers (reading a tensor back would "
                                      "cost a host sync on every call)")
        try:
            cache_key = (tuple(distance), None if weights is None else tuple(weights), str(device))
            cached = self._mixtures.get(cache_key)
        except TypeError:  # unhashable items: let the checks below say what is wrong
            cache_key, cached = None, None
        if cached is not None:
            return cached
        if len(distance) == 0:
            raise TaskConfigError("distance=[]: give one distance or a non-empty list")
        choices = [self.check_distance("distance", distance, d) for d in distance]
        cumulative = None
        if weights is not None:
            cumulative = torch.tensor(check_weights(weights, len(choices)), dtype=torch.float32, device=device)
        entry = (torch.tensor(choices, dtype=torch.long, device=device), cumulative)
        if cache_key is not None:
            if len(self._mixtures) >= 64:  # a loop uses a handful of lists; never grow without bound
                self._mixtures.clear()
            self._mixtures[cache_key] = entry
        return entry

    def _sample_natural(self, batch_size: int, generator: torch.Generator) -> Batch:
        """The natural distribution when a task has no generator of its own: every planted dependency draws its
        distance from ``producible_distances()`` with ``natural_weights`` (uniform by default)."""
        distances = self.producible_distances()
        return self.sample(batch_size, generator, distances, self.natural_weights(distances))

    def natural_weights(self, distances: list[int]) -> list[float] | None:
        """Relative probabilities of ``distances`` under the natural distribution; None is uniform."""
        return None

    def _sample(self, batch_size: int, distance: torch.Tensor, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def answer_from_source(self, inputs: torch.Tensor, rows: torch.Tensor, sources: torch.Tensor,
                           positions: torch.Tensor) -> torch.Tensor:
        """The answer implied by the information ``distance`` steps back, for scored positions given as
        (row, source = position - distance, position). The contract test checks it against the targets.

        The default fits tasks that copy a token: the answer is the token at the source. A task whose answer
        is computed from what the source holds (a bracket type, a sum, a bit) overrides this."""
        return inputs[rows, sources]


def check_weights(weights, count: int) -> list[float]:
    """Cumulative probabilities for ``count`` choices from non-negative weights with a positive sum."""
    if not is_list(weights) or len(weights) != count:
        raise TaskConfigError(f"weights={short_repr(weights)}: give one weight per distance ({count})")
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or weight < 0:
            raise TaskConfigError(f"weights={short_repr(weights)}: every weight must be a finite number >= 0, "
                                  f"got {weight!r}")
    total = math.fsum(weights)
    if total <= 0:
        raise TaskConfigError(f"weights={short_repr(weights)}: the weights must have a positive sum")
    cumulative, running = [], 0.0
    for weight in weights:
        running += weight
        cumulative.append(running / total)
    return cumulative


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
