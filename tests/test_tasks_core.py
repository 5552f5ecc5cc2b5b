"""n-back checked by an independent, loop-by-loop reading of each sequence, and recall's own claims (its reader
is in test_tasks_catalog.py with the other tasks')."""

from __future__ import annotations

import pytest
import torch

from tasks.base import IGNORE, TaskConfigError, data_generator
from tasks.nback import NBack
from tasks.recall import Recall


def test_nback_brute_force():
    task = NBack(distances=[1, 3, 7], seq_len=20, num_symbols=5)
    batch = task.sample(50, data_generator(task.name, 0, "train"), distance=task.distances)
    seen = set()
    for inputs, targets, distance in zip(batch.inputs.tolist(), batch.targets.tolist(), batch.distance.tolist()):
        lags = {token // task.num_symbols for token in inputs}
        assert len(lags) == 1, "every token of a sequence carries the same lag tag"
        d = task.lags[lags.pop()]
        seen.add(d)
        symbols = [token % task.num_symbols for token in inputs]
        for t in range(task.seq_len):
            if t - d >= 0:
                assert targets[t] == symbols[t - d] and distance[t] == d
            else:
                assert targets[t] == IGNORE and distance[t] == -1
    assert seen == {1, 3, 7}, "a mixed batch draws every training distance"


def test_nback_produces_only_the_lags_it_has_tags_for():
    """Every lag in [1, seq_len - 1] can be configured; a built n-back samples only its tagged lags, and says so."""
    task = NBack(distances=[1, 8], eval_distances=[19], seq_len=20)
    assert task.producible_distances() == [1, 8, 19] == task.lags
    assert task.supports_untrained_distances is False
    for d in (1, 19):
        batch = task.sample(8, data_generator(task.name, 0, "eval", d), distance=d)
        assert (batch.distance[:, d:] == d).all()
    with pytest.raises(TaskConfigError, match=r"distance=4: this task cannot produce distance 4; it produces 1, 8, "
                                              r"19 \(.*lag tags exist only for task.distances and task.eval_distances"):
        task.sample(8, data_generator(task.name, 0, "eval", 4), distance=4)
    natural = task.sample(300, data_generator(task.name, 0, "train"))
    assert set(natural.distance[natural.distance >= 0].tolist()) == {1, 8, 19}, "natural: uniform over the tags"


def test_recall_value_position_is_spread_out():
    """Absolute position must carry no clue: the queries land all over the sequence, for every instance."""
    task = Recall(distances=4, seq_len=32, instances=4)
    batch = task.sample(400, data_generator(task.name, 0, "train"), distance=4)
    rows, positions = (batch.targets != IGNORE).nonzero(as_tuple=True)
    instance = batch.inputs[rows, positions] - task.query
    for i in range(task.instances):
        assert positions[instance == i].min() <= 6 and positions[instance == i].max() == 31


def test_recall_instances_each_draw_their_own_distance():
    """In a mixture, the instances of one sequence draw independently: most rows hold more than one distance."""
    task = Recall(distances=[2, 9, 20], seq_len=32, instances=4)
    batch = task.sample(200, data_generator(task.name, 0, "train"), distance=task.distances)
    per_row = [len(set(row) - {-1}) for row in batch.distance.tolist()]
    assert sum(count > 1 for count in per_row) > 150 and (batch.distance >= 0).sum(dim=1).eq(4).all()


def test_chance_matches_best_memoryless_guess():
    """The most frequent class, guessed everywhere, is right about 1 / num_symbols of the time."""
    for task in (NBack(distances=5, seq_len=64), Recall(distances=5, seq_len=64)):
        batch = task.sample(4000, data_generator(task.name, 0, "eval"), distance=5)
        answers = batch.targets[batch.targets != IGNORE]
        best_guess_accuracy = torch.bincount(answers).max().item() / answers.numel()
        standard_error = (task.chance_accuracy * (1 - task.chance_accuracy) / answers.numel()) ** 0.5
        assert abs(best_guess_accuracy - task.chance_accuracy) < 4 * standard_error + 0.01


@pytest.mark.parametrize("kwargs, key", [
    ({"distances": 0}, "task.distances"),
    ({"distances": [4, 200]}, "task.distances"),
    ({"distances": 4, "eval_distances": [128]}, "task.eval_distances"),
    ({"distances": 4, "seq_len": 0}, "task.seq_len"),
    ({"distances": 4, "num_symbols": 1}, "task.num_symbols"),
    ({"distances": []}, "task.distances"),
    ({"distances": 2.5}, "task.distances"),
])
def test_impossible_settings_name_the_key(kwargs, key):
    for cls in (NBack, Recall):
        with pytest.raises(TaskConfigError, match=key):
            cls(**kwargs)
