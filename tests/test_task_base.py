"""tasks/base.py: what ``sample``'s distance and weights mean, the checks on them, and their cost per call."""

from __future__ import annotations

import math

import pytest
import torch
from support import TASK_CONFIGS
from test_task_contract import make_task

from tasks.base import IGNORE, TaskConfigError, data_generator
from tasks.copy import Copy
from tasks.recall import Recall


def planted_copy_distance(batch) -> list[int]:
    """Copy plants one distance per row, shared by its k outputs."""
    return batch.distance.max(dim=1).values.tolist()


def test_an_int_plants_every_dependency_at_that_distance():
    task = Recall(distances=8, seq_len=64, instances=4)
    batch = task.sample(50, data_generator(task.name, 0, "eval", 30), distance=30)
    assert ((batch.distance == 30).sum(dim=1) == 4).all() and ((batch.distance >= 0).sum(dim=1) == 4).all()


def test_a_list_is_drawn_uniformly_and_weights_set_the_proportions():
    task = Copy(distances=5, seq_len=64)
    uniform = planted_copy_distance(task.sample(6000, data_generator(task.name, 0, "train"), distance=[5, 10, 20]))
    weighted = planted_copy_distance(task.sample(6000, data_generator(task.name, 0, "train"), distance=[5, 10, 20],
                                                 weights=[1, 2, 7]))
    for draws, expected in ((uniform, [1 / 3] * 3), (weighted, [0.1, 0.2, 0.7])):
        for d, p in zip([5, 10, 20], expected):
            share = draws.count(d) / len(draws)
            assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / len(draws)), (d, share, p)


def test_each_instance_draws_its_own_distance_from_the_weighted_list():
    task = Recall(distances=8, seq_len=64, instances=4)
    batch = task.sample(3000, data_generator(task.name, 0, "train"), distance=[4, 40], weights=[3, 1])
    scored = batch.distance[batch.distance >= 0]
    assert scored.numel() == 4 * 3000
    assert abs((scored == 4).float().mean().item() - 0.75) < 0.02
    same_in_row = (batch.distance.max(dim=1).values == batch.distance.clamp(min=1000).min(dim=1).values)
    assert not same_in_row.all(), "instances of a row draw independently"


def test_dense_log_uniform_training_mixture():
    """The training loop's use: every integer in [8, 128] except a few held out, with weights proportional to 1/d."""
    held_out = {12, 24, 48, 96}
    distances = [d for d in range(8, 129) if d not in held_out]
    weights = [1 / d for d in distances]
    task = make_task("recall", seq_len=136)
    batch = task.sample(2000, data_generator(task.name, 0, "train"), distance=distances, weights=weights)
    drawn = batch.distance[batch.distance >= 0]
    assert not set(drawn.unique().tolist()) & held_out and set(drawn.unique().tolist()) <= set(distances)
    # log-uniform: the share below 32 is about ln(32/8) / ln(128/8) = 0.5
    assert abs((drawn < 32).float().mean().item() - 0.5) < 0.03


def test_natural_distribution_of_instance_tasks_is_proportional_to_the_places_that_fit():
    task = Recall(distances=8, seq_len=40, instances=2)
    batch = task.sample(4000, data_generator(task.name, 0, "train"))
    drawn = batch.distance[batch.distance >= 0].float()
    distances = torch.arange(1, task.max_distance + 1).float()
    weights = task.seq_len - distances
    assert abs(drawn.mean().item() - (distances * weights).sum().item() / weights.sum().item()) < 0.5


@pytest.mark.parametrize("distance, weights, message", [
    (2, None, r"distance=2: every distance must lie in \[5, 60\] .*task.num_items=4 sets the minimum.*got 2"),
    (61, None, r"distance=61: every distance must lie in \[5, 60\] .*got 61"),
    ([8, 61], None, r"distance=\[8, 61\]: every distance must lie in \[5, 60\].*got 61"),
    (8.0, None, "distance=8.0: distances must be integers"),
    ([8, "9"], None, r"distance=\[8, '9'\]: distances must be integers, got '9'"),
    ([], None, r"distance=\[\]: give one distance or a non-empty list"),
    (torch.tensor([8, 9]), None, "distance=<tensor>: give a list of numbers"),
    ([8, 9], [1], r"weights=\[1\]: give one weight per distance \(2\)"),
    ([8, 9], [1, -1], r"weights=\[1, -1\]: every weight must be a finite number >= 0, got -1"),
    ([8, 9], [1, float("nan")], "every weight must be a finite number >= 0, got nan"),
    ([8, 9], [True, 1], "every weight must be a finite number >= 0, got True"),
    ([8, 9], [0, 0], r"weights=\[0, 0\]: the weights must have a positive sum"),
    ([8, 9], torch.ones(2), "weights=<tensor>: give a list of numbers"),
    (8, [1], r"weights=\[1\]: weights need a list of distances, got distance=8"),
    (None, [1], r"weights=\[1\]: weights need a list of distances"),
])
def test_bad_requests_are_refused_naming_the_value_and_what_is_allowed(distance, weights, message):
    task = Copy(distances=8, seq_len=64)
    with pytest.raises(TaskConfigError, match=message):
        task.sample(4, data_generator(task.name, 0, "train"), distance=distance, weights=weights)


def test_a_long_list_is_named_briefly():
    task = Copy(distances=8, seq_len=64)
    with pytest.raises(TaskConfigError) as error:
        task.sample(4, data_generator(task.name, 0, "train"), distance=list(range(5, 62)))
    assert str(error.value).startswith("distance=[5, 6, 7,") and " ...]: every distance" in str(error.value)
    assert len(str(error.value).split(":")[0]) <= 70


def test_a_list_is_checked_once_then_served_from_the_cache(monkeypatch):
    task = Copy(distances=8, seq_len=64)
    checked = []
    original = task.check_distance
    monkeypatch.setattr(task, "check_distance", lambda key, value, d: checked.append(d) or original(key, value, d))
    distances, weights = list(range(5, 61)), [1 / d for d in range(5, 61)]
    generator = data_generator(task.name, 0, "train")
    for _ in range(5):
        task.sample(2, generator, distance=distances, weights=weights)
    assert checked == distances, "each distance is checked on the first call only"
    task.sample(2, generator, distance=distances)  # another key: uniform
    assert len(checked) == 2 * len(distances)


@pytest.mark.parametrize("task_name", TASK_CONFIGS)
def test_sampling_issues_no_host_sync(task_name, sync_counter):
    """A training loop calls sample every step: no value may travel back to the host, on the first call or any
    later one, for a weighted list, the natural distribution or one distance."""
    task = make_task(task_name)
    distances = task.producible_distances()
    counts = sync_counter
    generator = data_generator(task.name, 0, "train")
    for _ in range(2):
        task.sample(4, generator, distance=distances, weights=[1 / d for d in distances])
        task.sample(4, generator)
        task.sample(4, generator, distance=distances[-1])
    assert sum(counts.values()) == 0, counts


@pytest.mark.parametrize("task_name", TASK_CONFIGS)
def test_all_randomness_comes_from_the_generator(task_name):
    """The global RNG changes nothing: the same generator seed gives the same batch whatever ran before."""
    task = make_task(task_name)
    distances = task.producible_distances()
    batches = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        generator = data_generator(task.name, 3, "train")
        batches.append([task.sample(8, generator, distance=distances), task.sample(8, generator)])
    for first, second in zip(*batches):
        assert torch.equal(first.inputs, second.inputs) and torch.equal(first.targets, second.targets)
        assert first.inputs.device == torch.device("cpu") and (first.targets != IGNORE).any()
