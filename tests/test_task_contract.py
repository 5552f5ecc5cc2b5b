"""The task contract, for every YAML in conf/task: a new task is tested the moment its YAML exists.

Every check takes a factory ``make(**overrides) -> Task``, so the same machinery also runs on OddEcho,
a test-only task defined below whose layout can produce only odd distances: the contract uses each task's
declared ``producible_distances()``, never "every integer in [min_distance, max_distance]".
"""

from __future__ import annotations

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from support import TASK_CONFIGS, compose_config

from tasks.base import IGNORE, NO_DISTANCE, Batch, Task, TaskConfigError, data_generator, random_tokens, require_int


def make_task(name: str, **overrides):
    """Build a task from its YAML as run.py does; a constructor error comes out unwrapped."""
    cfg = compose_config([f"task={name}"]).task
    for key, value in overrides.items():
        cfg[key] = value
    try:
        return instantiate(cfg, _convert_="all")
    except InstantiationException as error:
        raise error.__cause__ from None


class OddEcho(Task):
    """Test-only: a symbol at position 0 and a query d steps later, where the layout allows odd d only.

        position   0  1  2  3  4
        inputs     c  _  _  ?  _
        targets    -  -  -  c  -
        distance   -  -  -  3  -
    """

    def __init__(self, distances=3, eval_distances=None, seq_len: int = 12, num_symbols: int = 4):
        self.seq_len = require_int("task.seq_len", seq_len, 2)
        self.num_symbols = require_int("task.num_symbols", num_symbols, 2)
        super().__init__(distances, eval_distances)
        self.blank, self.query = num_symbols, num_symbols + 1
        self.vocab_size, self.num_classes, self.chance_accuracy = num_symbols + 2, num_symbols, 1.0 / num_symbols

    @property
    def max_distance(self) -> int:
        return self.seq_len - 1

    def producible(self, distance):
        return super().producible(distance) and distance % 2 == 1

    def distance_limits(self, distance=None):
        return f"task.seq_len={self.seq_len} sets the maximum; the layout makes odd distances only"

    def _sample(self, batch_size, distance, generator):
        symbol = random_tokens(batch_size, 1, self.num_symbols, generator)  # (B, 1)
        positions = torch.arange(self.seq_len, device=symbol.device)[None, :]
        is_query = positions == distance[:, None]
        inputs = torch.where(positions == 0, symbol, torch.where(is_query, self.query, self.blank))
        return Batch(inputs, torch.where(is_query, symbol, IGNORE), torch.where(is_query, distance[:, None],
                                                                                 NO_DISTANCE))


FACTORIES = {name: (lambda name=name, **overrides: make_task(name, **overrides)) for name in TASK_CONFIGS}
FACTORIES["odd_only_test_task"] = lambda **overrides: OddEcho(**overrides)


@pytest.fixture(params=list(FACTORIES))
def make(request):
    return FACTORIES[request.param]


def probe_distances(make) -> list[int]:
    """The smallest, a middle and the largest distance the task's default settings can produce."""
    producible = make().producible_distances()
    return sorted({producible[0], producible[len(producible) // 2], producible[-1]})


def batches(make, seed: int, size: int):
    """A batch drawn from a mixture of the probe distances, and one from the task's natural distribution."""
    distances = probe_distances(make)
    task = make(distances=distances)
    return task, [task.sample(size, data_generator(task.name, seed, "train"), distance=distances),
                  task.sample(size, data_generator(task.name, seed, "val"))]


def test_shapes_dtypes_and_ranges(make):
    task, both = batches(make, 0, 16)
    for batch in both:
        assert isinstance(batch, Batch)
        for tensor in (batch.inputs, batch.targets, batch.distance):
            assert tensor.shape == (16, task.seq_len) and tensor.dtype == torch.long
        assert 0 <= batch.inputs.min() and batch.inputs.max() < task.vocab_size
        scored = batch.targets != IGNORE
        assert (batch.targets[scored] >= 0).all() and (batch.targets[scored] < task.num_classes).all()
    assert 0.0 < task.chance_accuracy < 1.0
    assert task.num_classes >= 2 and task.vocab_size >= 2
    assert isinstance(task.supports_untrained_distances, bool)


def test_targets_only_where_distance_is_set(make):
    task, (mixed, natural) = batches(make, 1, 32)
    for batch in (mixed, natural):
        scored = batch.targets != IGNORE
        assert torch.equal(scored, batch.distance >= 0)
        assert (batch.distance[~scored] == NO_DISTANCE).all()
    assert (mixed.targets != IGNORE).any(dim=1).all(), "every sequence must have at least one scored position"
    assert (natural.targets != IGNORE).any(), "the natural distribution scores something"


def test_answer_lies_distance_steps_back(make):
    task, both = batches(make, 2, 64)
    for batch in both:
        rows, positions = (batch.distance >= 0).nonzero(as_tuple=True)
        sources = positions - batch.distance[rows, positions]
        assert (sources >= 0).all(), "the answer must lie inside the sequence"
        expected = task.answer_from_source(batch.inputs, rows, sources, positions)
        assert torch.equal(expected, batch.targets[rows, positions])


def test_natural_distances_are_producible(make):
    """distance=None plants nothing, yet every distance it scores is one the task could have planted."""
    task = make()
    batch = task.sample(64, data_generator(task.name, 3, "train"))
    assert all(task.producible(d) for d in batch.distance[batch.distance >= 0].unique().tolist())


@pytest.mark.parametrize("which", ["smallest", "largest"])
def test_every_requested_distance_is_reached(make, which):
    distances = probe_distances(make)
    distance = distances[0] if which == "smallest" else distances[-1]
    task = make(distances=distances)
    batch = task.sample(32, data_generator(task.name, 3, "eval", distance), distance=distance)
    assert (batch.distance == distance).any(dim=1).all(), f"a row has no scored position at {distance}"
    if task.instances is not None:  # every instance of every row is planted at that distance
        assert ((batch.distance == distance).sum(dim=1) == task.instances).all()


@pytest.mark.parametrize("where", ["below", "above"])
def test_sampling_a_distance_the_task_cannot_produce_is_refused(make, where):
    """Regression: only n-back checked; others returned wrong batches or raised IndexError (adding at
    d = seq_len put its first digit on the query, copy's symbols overlapped the delimiter)."""
    task = make()
    distance = task.min_distance - 1 if where == "below" else task.max_distance + 1
    generator = data_generator(task.name, 4, "eval")
    message = rf"distance={distance}: every distance must lie in \[{task.min_distance}, {task.max_distance}\]"
    with pytest.raises(TaskConfigError, match=message):
        task.sample(4, generator, distance=distance)
    with pytest.raises(TaskConfigError, match=f"got {distance}"):
        task.sample(4, generator, distance=[task.producible_distances()[0], distance])


def test_a_zero_weight_distance_is_never_planted(make):
    """Every row of a mixture weighted [0, 1] holds the second distance, and of [1, 0] the first (other
    dependencies of a row keep their own distances, so only presence is checked; frequencies are checked in
    test_task_base.py)."""
    task = make()
    low, high = task.producible_distances()[0], task.producible_distances()[-1]
    for weights, wanted in (([0, 1], high), ([1, 0], low)):
        batch = task.sample(64, data_generator(task.name, 5, "train"), distance=[low, high], weights=weights)
        assert (batch.distance == wanted).any(dim=1).all()


def test_same_seed_same_batch_and_streams_differ(make):
    task = make(distances=probe_distances(make))
    distance = task.distances[-1]
    first, again, other_seed, val, test = (
        task.sample(8, data_generator(task.name, seed, role, distance), distance=distance)
        for seed, role in [(5, "train"), (5, "train"), (6, "train"), (5, "val"), (5, "eval")])
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    for other in (other_seed, val, test):
        assert not torch.equal(first.inputs, other.inputs)
    assert not torch.equal(val.inputs, test.inputs), "the validation stream is not the test set"


def test_a_task_that_names_its_load_says_what_is_pending(make):
    """``load_key`` names the constructor key of the load; ``pending`` gives, at every scored position, the items a
    model must hold there (its own among them, never more than the load) and NO_DISTANCE elsewhere. Tasks with
    neither pass; tests/test_task_load.py reads each task's count loop by loop."""
    task, both = batches(make, 6, 32)
    assert hasattr(task, "load_key") == hasattr(task, "pending")
    if not hasattr(task, "load_key"):
        return
    load = getattr(task, task.load_key)
    assert isinstance(load, int) and load >= 1
    for batch in both:
        pending = task.pending(batch)
        scored = batch.targets != IGNORE
        assert pending.shape == batch.inputs.shape and pending.dtype == torch.long
        assert (pending[~scored] == NO_DISTANCE).all()
        assert (pending[scored] >= 1).all() and (pending[scored] <= load).all()


def test_distance_beyond_sequence_is_refused(make):
    task = make()
    with pytest.raises(TaskConfigError, match="distances"):
        make(distances=task.seq_len)


# ---------------------------------------------------------------------------------------------- a layout with gaps


def test_odd_only_task_declares_and_refuses_even_distances():
    task = OddEcho()
    assert task.producible_distances() == [1, 3, 5, 7, 9, 11]
    with pytest.raises(TaskConfigError, match=r"distance=4: this task cannot produce distance 4; it produces 1, 3, "
                                              r"5, 7, 9, 11 \(task.seq_len=12 sets the maximum; .*odd"):
        task.sample(4, data_generator(task.name, 0, "eval"), distance=4)
    with pytest.raises(TaskConfigError, match="task.distances=.*cannot produce distance 6"):
        OddEcho(distances=[3, 6])
    natural = task.sample(200, data_generator(task.name, 0, "train"))
    assert set(natural.distance[natural.distance >= 0].tolist()) == {1, 3, 5, 7, 9, 11}


# ---------------------------------------------------------------------------------------------- data streams


def test_generator_seed_is_stable_across_processes():
    """CRC32, not the salted built-in hash(): the first draw for a fixed stream never changes."""
    first = torch.randint(1000, (4,), generator=data_generator("NBack", 0, "train")).tolist()
    assert first == torch.randint(1000, (4,), generator=data_generator("NBack", 0, "train")).tolist()
    assert data_generator("NBack", 0, "train").initial_seed() == 576841089


def test_seeds_give_different_streams():
    """Regression: torch's CPU generator drops the high 32 bits of a seed, so the mix must fit in 32 bits."""
    draws = {tuple(torch.randint(1000, (8,), generator=data_generator("NBack", seed, "train")).tolist())
             for seed in range(20)}
    assert len(draws) == 20


def test_roles_are_train_val_and_eval():
    seeds = {role: data_generator("Recall", 0, role, 16).initial_seed() for role in ("train", "val", "eval")}
    assert len(set(seeds.values())) == 3
    with pytest.raises(ValueError, match="role='test': allowed are 'train', 'val', 'eval'"):
        data_generator("Recall", 0, "test")
