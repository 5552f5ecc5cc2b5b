"""tasks/instances.py: k instances per sequence never collide, fit wherever the constructor lets them, and say nothing
through their positions. The per-task readers in test_tasks_catalog.py check the tokens; this file checks the
placement itself, at the tightest settings its docstring claims."""

from __future__ import annotations

import pytest
import torch
from test_task_contract import make_task

from tasks.base import TaskConfigError, data_generator
from tasks.instances import min_seq_len, place_instances
from tasks.recall import Recall


def assert_valid(distance: torch.Tensor, seq_len: int, extras: int, generator: torch.Generator):
    source, query, extra = place_instances(distance, seq_len, extras, generator)
    assert torch.equal(query - source, distance)
    points = torch.cat([source, query, extra.flatten(1)], dim=1)
    assert (points >= 0).all() and (points < seq_len).all()
    ordered = points.sort(dim=1).values
    collided = (ordered[:, 1:] == ordered[:, :-1]).any(dim=1)
    assert not collided.any(), f"positions collide in {int(collided.sum())} rows, e.g. {distance[collided][0]}"
    assert ((extra > source[..., None]) & (extra < query[..., None])).all(), "in-between tokens lie between"


@pytest.mark.parametrize("instances", [2, 3, 4, 6])
@pytest.mark.parametrize("extras", [0, 1, 2])
def test_no_collision_at_the_shortest_sequence_the_constructor_allows(instances, extras):
    """The tightest sequence, and mixtures chosen to be hard: all at the longest distance, the longest and one
    less, all at the shortest, around half the sequence, and long ones among short ones."""
    shortest = extras + 1
    seq_len = min_seq_len(instances, extras, shortest, shortest)
    longest = seq_len - (2 * instances - 1)
    generator = torch.Generator().manual_seed(instances * 10 + extras)
    shape = (300, instances)

    def between(low, high):
        return torch.randint(max(low, shortest), min(high, longest) + 1, shape, generator=generator)

    mixtures = [between(shortest, longest), torch.full(shape, longest), between(longest - 1, longest),
                torch.full(shape, shortest), between(seq_len // 2 - 2, seq_len // 2 + 2),
                torch.where(torch.rand(shape, generator=generator) < 0.5, longest,
                            between(shortest, shortest + 3 * instances))]
    for distance in mixtures:
        assert_valid(distance, seq_len, extras, generator)


def test_defaults_hold_distance_128_at_the_headline_length():
    """The headline runs every task at seq_len 136 and distances 8..128: four instances fit up to 129."""
    assert [min_seq_len(4, extras, extras + 1, 128) for extras in (0, 1, 2)] == [135, 135, 135]
    assert [min_seq_len(4, extras, extras + 1, extras + 1) for extras in (0, 1, 2)] == [25, 38, 63]
    for name in ("recall", "adding", "referent"):
        task = make_task(name, seq_len=136, distances=[8, 128])
        assert task.instances == 4 and task.max_distance == 129
        batch = task.sample(64, data_generator(task.name, 0, "eval", 128), distance=128)
        assert ((batch.distance == 128).sum(dim=1) == 4).all(), "4 labels per sequence, all at 128"


def test_a_layout_that_cannot_fit_is_refused_naming_both_settings():
    with pytest.raises(TaskConfigError, match=r"task.distances=\[8, 128\]: every distance must lie in \[1, 121\] .*"
                                              r"task.seq_len=136 and task.instances=8 set the maximum: 8 instances "
                                              r"need seq_len >= 143 at distances up to 128, or lower task.instances"):
        Recall(distances=[8, 128], seq_len=136, instances=8)
    with pytest.raises(TaskConfigError, match="task.instances=6, task.seq_len=30: 6 instances need seq_len >= 41"):
        Recall(distances=4, seq_len=30, instances=6)
    assert Recall(distances=[8, 128], seq_len=136, instances=4).max_distance == 129


def test_instance_index_says_nothing_about_position():
    """At one distance every instance of a row has the same shape; each index must land all over the sequence,
    with the same mean position (the placement order is random among equal distances)."""
    task = Recall(distances=20, seq_len=64, instances=4)
    batch = task.sample(3000, data_generator(task.name, 0, "train"), distance=20)
    rows, positions = (batch.distance >= 0).nonzero(as_tuple=True)
    instance = batch.inputs[rows, positions] - task.query
    means = [positions[instance == i].float().mean().item() for i in range(4)]
    assert max(means) - min(means) < 1.0, means
    assert all(positions[instance == i].min() == 20 and positions[instance == i].max() == 63 for i in range(4))


def test_a_lone_instance_is_uniform_over_its_legal_positions():
    task = Recall(distances=10, seq_len=20, instances=1)
    batch = task.sample(5000, data_generator(task.name, 0, "train"), distance=10)
    query_at = (batch.distance >= 0).nonzero(as_tuple=True)[1]
    counts = torch.bincount(query_at - 10, minlength=10).float()  # value positions 0..9
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()
