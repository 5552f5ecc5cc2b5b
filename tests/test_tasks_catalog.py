"""The task catalog checked against an independent, brute-force reading of every sequence.

Each reader below takes one sequence as a plain list of token ids and works out, with
ordinary loops, what every position should be asked and how far back its answer lies,
knowing only the task's token layout; the tasks' tensors never enter it. Then: every
distance in range is reached, chance matches the best memoryless guess, the docstring
examples read correctly, and impossible settings are refused with the key named.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import pytest
import torch
from test_task_contract import make_task

from tasks.adding import Adding
from tasks.assoc_recall import AssocRecall
from tasks.base import IGNORE, NO_DISTANCE, TaskConfigError, data_generator
from tasks.brackets import Brackets
from tasks.copy import Copy
from tasks.flipflop import FlipFlop
from tasks.recall import Recall
from tasks.referent import Referent
from tasks.selective_copy import SelectiveCopy

# ---------------------------------------------------------------------------------------------- brute-force readers
# Each returns (targets, distances) for one sequence: lists of length L, IGNORE / -1 where nothing is asked.


def blank_answers(length):
    return [IGNORE] * length, [NO_DISTANCE] * length


def read_copy(task, seq):
    targets, distances = blank_answers(len(seq))
    k = task.num_items
    assert all(s < task.num_symbols for s in seq[:k]), "the symbols come first"
    [delimiter_at] = [t for t, s in enumerate(seq) if s == task.delimiter]
    assert all(s == task.blank for t, s in enumerate(seq) if t >= k and t != delimiter_at), "blanks elsewhere"
    for i in range(k):
        t = delimiter_at + 1 + i
        targets[t], distances[t] = seq[i], t - i
    return targets, distances


def read_recall(task, seq):
    targets, distances = blank_answers(len(seq))
    n, k = task.num_symbols, task.instances
    queried = []
    for t, token in enumerate(seq):
        if task.query <= token < task.query + k:
            instance = token - task.query
            queried.append(instance)
            low = task.marked + instance * n  # the value tokens of this instance: low .. low + n - 1
            [value_at] = [s for s, other in enumerate(seq) if low <= other < low + n]
            assert value_at < t, "the value comes before its query"
            targets[t], distances[t] = seq[value_at] - low, t - value_at
        else:
            assert token < task.marked + k * n, "no token of an instance beyond task.instances"
    assert sorted(queried) == list(range(k)), "one query per instance"
    return targets, distances


def read_adding(task, seq):
    targets, distances = blank_answers(len(seq))
    n, k = task.num_digits, task.instances
    queried = []
    for t, token in enumerate(seq):
        if task.query <= token < task.query + k:
            instance = token - task.query
            queried.append(instance)
            low = task.marked + instance * n  # the digits marked for this instance: low .. low + n - 1
            marked = [s for s, other in enumerate(seq) if low <= other < low + n]
            assert len(marked) == 2 and marked[1] < t, "two marked digits per instance, before its query"
            first, second = marked
            targets[t], distances[t] = (seq[first] - low) + (seq[second] - low), t - first
    assert sorted(queried) == list(range(k)), "one query per instance"
    return targets, distances


def read_assoc_recall(task, seq):
    targets, distances = blank_answers(len(seq))
    store = {}
    for t in range(0, 2 * task.num_pairs, 2):
        key, value = seq[t], seq[t + 1]
        assert task.num_values <= key < task.num_values + task.num_keys and value < task.num_values
        assert key not in store, "keys within a sequence are distinct"
        store[key] = (value, t + 1)
    asked = []
    for t in range(2 * task.num_pairs, len(seq)):
        if seq[t] == task.blank:
            continue
        assert seq[t] in store, "the query region holds blanks and stored keys only"
        asked.append(seq[t])
        value, value_at = store[seq[t]]
        targets[t], distances[t] = value, t - value_at
    assert len(asked) == task.num_queries == len(set(asked)), "each query asks for a different stored key"
    return targets, distances


def read_flipflop(task, seq):
    targets, distances = blank_answers(len(seq))
    assert seq[0] in (0, 1), "the first instruction writes"
    last_bit = last_write_at = None
    for t, instruction in enumerate(seq):
        if instruction in (0, 1):  # w0, w1
            last_bit, last_write_at = instruction, t
        elif instruction == 4:  # r
            targets[t], distances[t] = last_bit, t - last_write_at
        else:
            assert instruction in (2, 3)  # i0, i1
    return targets, distances


def read_selective_copy(task, seq):
    targets, distances = blank_answers(len(seq))
    k = task.num_items
    delimiter_at = len(seq) - k - 1
    assert seq[delimiter_at] == task.delimiter and seq.count(task.delimiter) == 1
    data_at = [t for t in range(delimiter_at) if seq[t] < task.num_symbols]
    assert len(data_at) == k and all(s == task.blank for s in seq[delimiter_at + 1:])
    for i, source in enumerate(data_at):
        t = delimiter_at + 1 + i
        targets[t], distances[t] = seq[source], t - source
    return targets, distances


def read_referent(task, seq):
    targets, distances = blank_answers(len(seq))
    per, entities, features = task.entities_per_feature, task.num_entities, task.num_features
    pronouns = []
    for t, token in enumerate(seq):
        if not task.pronoun <= token < task.filler:
            continue
        story, feature = divmod(token - task.pronoun, features)
        pronouns.append(story)
        for s in range(t - 1, -1, -1):  # the most recent entity of its story that agrees with the pronoun
            if seq[s] < task.pronoun and seq[s] // entities == story and seq[s] % entities // per == feature:
                targets[t], distances[t] = seq[s] % entities, t - s
                between = [x for x in seq[s + 1:t] if x < task.pronoun and x // entities == story]
                assert len(between) == task.num_distractors, "exactly num_distractors entities stand between"
                break
        else:
            raise AssertionError("the pronoun has no antecedent")
    assert sorted(pronouns) == list(range(task.instances)), "one pronoun per story"
    return targets, distances


def read_brackets(task, seq):
    targets, distances = blank_answers(len(seq))
    stack = []
    for t, token in enumerate(seq):
        if token < task.num_types:
            stack.append((token, t))
        elif token == task.close:
            assert stack, "every closing bracket has something to close"
            kind, opened_at = stack.pop()
            targets[t], distances[t] = kind, t - opened_at
        else:
            assert token == task.filler
    return targets, distances


# Small settings, so that the smallest and largest distances are cheap to reach exhaustively. Tasks with
# instances run with several (each needs a longer sequence; tasks/instances.py says how long) and with one.
CASES = {
    "copy": (read_copy, lambda **kw: Copy(**{"seq_len": 24, "num_items": 3, **kw})),
    "recall": (read_recall, lambda **kw: Recall(**{"seq_len": 20, "num_symbols": 6, "instances": 3, **kw})),
    "recall_one": (read_recall, lambda **kw: Recall(**{"seq_len": 24, "num_symbols": 6, "instances": 1, **kw})),
    "adding": (read_adding, lambda **kw: Adding(**{"seq_len": 30, "instances": 3, **kw})),
    "adding_one": (read_adding, lambda **kw: Adding(**{"seq_len": 20, "instances": 1, **kw})),
    "assoc_recall": (read_assoc_recall,
                     lambda **kw: AssocRecall(**{"seq_len": 24, "num_pairs": 4, "num_queries": 3, "num_keys": 6,
                                                 "num_values": 5, **kw})),
    "flipflop": (read_flipflop, lambda **kw: FlipFlop(**{"seq_len": 24, "ignore_prob": 0.5, **kw})),
    "selective_copy": (read_selective_copy, lambda **kw: SelectiveCopy(**{"seq_len": 24, "num_items": 3, **kw})),
    "referent": (read_referent, lambda **kw: Referent(**{"seq_len": 44, "num_distractors": 2, "entity_prob": 0.3,
                                                         "instances": 3, **kw})),
    "referent_one": (read_referent, lambda **kw: Referent(**{"seq_len": 24, "num_distractors": 2,
                                                             "entity_prob": 0.3, "instances": 1, **kw})),
    "brackets": (read_brackets, lambda **kw: Brackets(**{"seq_len": 24, **kw})),
}


def distance_range(name):
    task = CASES[name][1](distances=12)
    return task.min_distance, task.max_distance


@pytest.mark.parametrize("name", CASES)
def test_brute_force_reading_agrees(name):
    read, make = CASES[name]
    low, high = distance_range(name)
    task = make(distances=sorted({low, low + 1, (low + high) // 2, high - 1, high}))
    mixed = task.sample(200, data_generator(task.name, 0, "train"), distance=task.distances)
    natural = task.sample(200, data_generator(task.name, 0, "val"))
    for batch in (mixed, natural):
        for inputs, targets, distance in zip(batch.inputs.tolist(), batch.targets.tolist(),
                                             batch.distance.tolist()):
            assert all(0 <= token < task.vocab_size for token in inputs)
            expected_targets, expected_distances = read(task, inputs)
            assert targets == expected_targets, inputs
            assert distance == expected_distances, inputs


@pytest.mark.parametrize("name, settings, low, high", [
    ("copy", {"num_items": 1, "seq_len": 3}, 2, 2),
    ("recall_one", {"num_symbols": 2, "seq_len": 2}, 1, 1),
    ("recall", {"seq_len": 17}, 1, 12),  # the shortest sequence that holds 3 instances
    ("recall", {"instances": 6, "seq_len": 41}, 1, 30),
    ("adding_one", {"num_digits": 2, "seq_len": 3}, 2, 2),
    ("adding", {"seq_len": 26}, 2, 21),
    ("adding", {"seq_len": 26, "num_digits": 2}, 2, 21),
    ("assoc_recall", {"num_pairs": 1, "num_queries": 1, "num_keys": 1, "seq_len": 4}, 1, 2),
    ("assoc_recall", {"num_pairs": 6, "num_queries": 6, "num_keys": 6}, 1, 22),
    ("flipflop", {"ignore_prob": 0.0}, 1, 23),
    ("flipflop", {"ignore_prob": 0.95}, 1, 23),
    ("selective_copy", {"num_items": 1, "seq_len": 3}, 2, 2),
    ("referent_one", {"num_distractors": 0, "entity_prob": 0.0, "num_features": 3}, 1, 23),
    ("referent_one", {"num_distractors": 20, "entity_prob": 0.9}, 21, 23),
    ("referent", {"seq_len": 43, "entity_prob": 0.9}, 3, 38),
    ("referent", {"num_distractors": 0, "entity_prob": 0.0, "num_features": 3, "seq_len": 17}, 1, 12),
    ("brackets", {"filler_prob": 0.0, "num_types": 3}, 1, 23),
    ("brackets", {"filler_prob": 0.9}, 1, 23),
])
def test_extreme_settings_read_correctly_at_both_ends(name, settings, low, high):
    read, make = CASES[name]
    task = make(distances=[low, high], **settings)
    assert (task.min_distance, task.max_distance) == (low, high)
    for d in (low, high, None):
        batch = task.sample(100, data_generator(task.name, 0, "eval", d), distance=d)
        for inputs, targets, distance in zip(batch.inputs.tolist(), batch.targets.tolist(),
                                             batch.distance.tolist()):
            assert (targets, distance) == read(task, inputs), inputs
            assert d is None or d in distance


@pytest.mark.parametrize("name", CASES)
def test_every_distance_in_range_is_reached_in_every_row(name):
    """Exhaustive over [min_distance, max_distance]: each sequence sampled at d scores a position exactly d back."""
    low, high = distance_range(name)
    task = CASES[name][1](distances=low)
    for d in range(low, high + 1):
        batch = task.sample(16, data_generator(task.name, 0, "eval", d), distance=d)
        assert (batch.distance == d).any(dim=1).all(), f"a row sampled at d={d} has no scored position at d"


@pytest.mark.parametrize("name", ["copy", "recall", "adding", "assoc_recall", "flipflop", "selective_copy",
                                  "referent", "brackets"])
@pytest.mark.parametrize("seq_len", [None, 136])
@pytest.mark.parametrize("which", ["small", "large"])
def test_default_settings_reach_small_and_large_distances(name, seq_len, which):
    """At the YAML's defaults and at the headline's seq_len 136, where every task must reach distance 128."""
    overrides = {} if seq_len is None else {"seq_len": seq_len}
    task = make_task(name, **overrides)
    if seq_len == 136:
        assert task.max_distance >= 128
    d = task.min_distance if which == "small" else task.max_distance
    task = make_task(name, distances=d, **overrides)
    batch = task.sample(64, data_generator(task.name, 0, "eval", d), distance=d)
    assert read_all(task, batch, CASES[name][0])
    assert (batch.distance == d).any(dim=1).all()


def read_all(task, batch, read) -> bool:
    """Every sequence of the batch agrees with the brute-force reader."""
    return all(read(task, inputs) == (targets, distance) for inputs, targets, distance
               in zip(batch.inputs.tolist(), batch.targets.tolist(), batch.distance.tolist()))


# ---------------------------------------------------------------------------------------------- chance


def best_guess_accuracy(fit, test, context) -> float:
    """Fit the most frequent answer per memoryless context on one sample; score that guess on another."""
    table = defaultdict(Counter)
    for key, answer in zip(context(fit), fit.targets[fit.targets != IGNORE].tolist()):
        table[key][answer] += 1
    fallback = Counter(fit.targets[fit.targets != IGNORE].tolist()).most_common(1)[0][0]
    guesses = [table[key].most_common(1)[0][0] if key in table else fallback for key in context(test)]
    answers = test.targets[test.targets != IGNORE].tolist()
    return sum(g == a for g, a in zip(guesses, answers)) / len(answers)


def current_token(batch):
    return batch.inputs[batch.targets != IGNORE].tolist()


def current_token_and_position(batch):
    rows, positions = (batch.targets != IGNORE).nonzero(as_tuple=True)
    return list(zip(batch.inputs[rows, positions].tolist(), positions.tolist()))


@pytest.mark.parametrize("name", CASES)
def test_chance_is_the_best_memoryless_guess(name):
    """A guess that sees only the current token (and its position) scores chance on held-out data; the same guess
    scores the stated memoryless cross-entropy."""
    low, high = distance_range(name)
    task = CASES[name][1](distances=sorted({low, (low + high) // 2, high}))
    fit = task.sample(6000, data_generator(task.name, 0, "train"), distance=task.distances)
    test = task.sample(6000, data_generator(task.name, 0, "eval"), distance=task.distances)
    n = int((test.targets != IGNORE).sum())
    tolerance = 4 * math.sqrt(task.chance_accuracy * (1 - task.chance_accuracy) / n) + 0.005
    assert abs(best_guess_accuracy(fit, test, current_token) - task.chance_accuracy) < tolerance
    assert best_guess_accuracy(fit, test, current_token_and_position) < task.chance_accuracy + tolerance

    if task.memoryless_cross_entropy is None:
        return
    counts = torch.bincount(fit.targets[fit.targets != IGNORE], minlength=task.num_classes).float() + 1
    by_token = {token: torch.bincount(fit.targets[(fit.targets != IGNORE) & (fit.inputs == token)],
                                      minlength=task.num_classes).float() + 1 for token in set(current_token(fit))}
    cross_entropy = -sum(math.log((by_token.get(token, counts) / by_token.get(token, counts).sum())[answer])
                         for token, answer in zip(current_token(test), test.targets[test.targets != IGNORE].tolist()))
    assert abs(cross_entropy / n - task.memoryless_cross_entropy) < 0.03


def test_adding_chance_is_the_mode_of_two_digit_sums():
    task = Adding(distances=5, seq_len=40)
    assert task.chance_accuracy == pytest.approx(0.1) and task.num_classes == 19
    assert Adding(distances=5, seq_len=40, num_digits=4).chance_accuracy == pytest.approx(0.25)


# ---------------------------------------------------------------------------------------------- task-specific claims


def test_copy_scores_only_the_outputs():
    """Scoring the blanks would make a do-nothing model look right: exactly k positions per row are scored."""
    task = Copy(distances=[5, 40], seq_len=64, num_items=4)
    batch = task.sample(64, data_generator(task.name, 0, "train"), distance=task.distances)
    assert ((batch.targets != IGNORE).sum(dim=1) == 4).all()
    assert task.memoryless_cross_entropy == pytest.approx(math.log(8))


def test_flipflop_sparser_sequences_make_longer_distances():
    """In the natural distribution (nothing planted)."""
    dense, sparse = (FlipFlop(distances=1, seq_len=128, ignore_prob=p) for p in (0.2, 0.9))
    means = [task.sample(200, data_generator(task.name, 0, "train")).distance for task in (dense, sparse)]
    means = [distance[distance >= 0].float().mean().item() for distance in means]
    assert means[1] > 3 * means[0]


@pytest.mark.parametrize("name", ["flipflop", "recall", "adding", "referent", "brackets"])
def test_planted_dependency_lands_all_over_the_sequence(name):
    """Absolute position carries no clue: the scored position at the requested distance moves around."""
    task = CASES[name][1](distances=4)
    batch = task.sample(400, data_generator(task.name, 0, "train"), distance=4)
    positions = (batch.distance == 4).nonzero()[:, 1]
    assert positions.min() <= 6 and positions.max() == task.seq_len - 1


def test_mixed_distances_draw_every_training_distance():
    for name, (_, make) in CASES.items():
        low, high = distance_range(name)
        task = make(distances=[low, high])
        batch = task.sample(64, data_generator(task.name, 0, "train"), distance=task.distances)
        assert all((batch.distance == d).any() for d in (low, high)), name


# ---------------------------------------------------------------------------------------------- docstring examples

# The symbols each docstring draws, as token ids of the task built in DOC_TASKS.
DOC_TASKS = {
    "copy": (Copy(distances=5, seq_len=10, num_items=3),
             {**{c: i for i, c in enumerate("abcdefgh")}, "_": 8, ":": 9}),
    "recall": (Recall(distances=4, seq_len=10, instances=2),  # value c marked for instance i is c:i, its query ?i
               {**{c: v for v, c in enumerate("abcdefgh")},
                **{f"{c}:{i}": 8 + 8 * i + v for i in range(2) for v, c in enumerate("abcdefgh")},
                "?0": 24, "?1": 25}),
    "adding": (Adding(distances=5, seq_len=14, instances=2),  # digit j marked for instance i is j:i, its query ?i
               {**{str(j): j for j in range(10)}, **{f"{j}:{i}": 10 + 10 * i + j for i in range(2) for j in range(10)},
                "?0": 30, "?1": 31}),
    "assoc_recall": (AssocRecall(distances=4, seq_len=12, num_pairs=3, num_queries=2, num_keys=16),
                     {**{c: i for i, c in enumerate("abcdefgh")},
                      **{c: 8 + i for i, c in enumerate("ABCDEFGHIJKLMNOP")}, "_": 24}),
    "flipflop": (FlipFlop(distances=4, seq_len=10), {"w0": 0, "w1": 1, "i0": 2, "i1": 3, "r": 4}),
    "selective_copy": (SelectiveCopy(distances=6, seq_len=12, num_items=3),
                       {**{c: i for i, c in enumerate("abcdefgh")}, ".": 8, ":": 9}),
    "referent": (Referent(distances=8, seq_len=15, instances=1),  # entities 0-7 singular, 8-15 plural; pronouns 16, 17
                 {"animal": 3, "cats": 9, "streets": 12, "trees": 14, "it": 16,
                  **{w: 18 + i for i, w in enumerate(["the", "saw", "didn't", "cross", "near", "because", "was",
                                                      "tired"])}}),
    "brackets": (Brackets(distances=6, seq_len=10), {"(": 0, "[": 1, ")": 2, ".": 3}),
}


def docstring_example(cls) -> dict[str, list[str]]:
    """The four rows of the drawn example: the line starting with "position" and the three after it."""
    lines = [line.split() for line in cls.__doc__.splitlines()]
    start = next(i for i, words in enumerate(lines) if words[:1] == ["position"])
    rows = {words[0]: words[1:] for words in lines[start:start + 4]}
    assert list(rows) == ["position", "inputs", "targets", "distance"]
    return rows


@pytest.mark.parametrize("name", DOC_TASKS)
def test_docstring_example_reads_correctly(name):
    """The worked example each task draws passes the same brute-force reader as sampled batches."""
    task, symbols = DOC_TASKS[name]
    example = docstring_example(type(task))
    assert example["position"] == [str(t) for t in range(task.seq_len)]
    targets, distances = CASES[name][0](task, [symbols[word] for word in example["inputs"]])
    assert [str(d) if d >= 0 else "-" for d in distances] == example["distance"]
    assert task.distances[0] in distances, "the example shows the distance it is drawn for"
    # A target is drawn as a token (a symbol, a value, an entity, a bracket type by its opener) or as a number.
    drawn = [word if word == "-" else int(word) if word.isdigit() else symbols[word] for word in example["targets"]]
    assert [("-" if t == IGNORE else t) for t in targets] == drawn


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("make, kwargs, message", [
    (Copy, {"distances": 16, "num_items": 40}, "task.num_items=40: .* more than task.seq_len=64"),
    (Copy, {"distances": 4, "num_items": 4}, r"task.distances=4: .* \[5, 60\]"),
    (Copy, {"distances": 61, "num_items": 4}, r"task.distances=61: .* \[5, 60\]"),
    (Copy, {"distances": 8, "eval_distances": [8, 100]}, r"task.eval_distances=\[8, 100\]"),
    (Adding, {"distances": 1}, r"task.distances=1: .* \[2, 57\] .*second marked digit sets the minimum"),
    (Adding, {"distances": 8, "num_digits": 1}, "task.num_digits=1"),
    (Adding, {"distances": 8, "seq_len": 30},
     r"task.instances=4, task.seq_len=30: 4 instances need seq_len >= 38 .*\(or lower task.instances\)"),
    (Adding, {"distances": 8, "instances": 0}, "task.instances=0: must be an integer >= 1"),
    (Recall, {"distances": 128, "instances": 8, "seq_len": 136},
     r"task.distances=128: .* \[1, 121\] .*task.seq_len=136 and task.instances=8 set the maximum: 8 instances need "
     r"seq_len >= 143 at distances up to 128, or lower task.instances"),
    (Recall, {"distances": 8, "instances": 8, "seq_len": 40},
     "task.instances=8, task.seq_len=40: 8 instances need seq_len >= 57 even at the shortest distance"),
    (AssocRecall, {"distances": 8, "num_pairs": 40, "num_keys": 32},
     r"task.num_pairs=40: more key-value pairs than distinct keys \(num_keys=32\)"),
    (AssocRecall, {"distances": 8, "num_queries": 5}, r"task.num_queries=5: .* \(num_pairs=4\)"),
    (AssocRecall, {"distances": 8, "seq_len": 10}, "task.seq_len=10: .* leaving 2 .* num_queries=4"),
    (AssocRecall, {"distances": 63}, r"task.distances=63: .* \[1, 62\]"),
    (FlipFlop, {"distances": 8, "ignore_prob": 1.0}, r"task.ignore_prob=1.0: .* \[0.0, 1.0\)"),
    (FlipFlop, {"distances": 8, "ignore_prob": "0.5"}, "task.ignore_prob='0.5'"),
    (FlipFlop, {"distances": 128}, r"task.distances=128: .* \[1, 127\]"),
    (SelectiveCopy, {"distances": 16, "num_items": 32}, "task.num_items=32: .* more than task.seq_len=64"),
    (SelectiveCopy, {"distances": 3}, r"task.distances=3: .* \[5, 60\]"),
    (Referent, {"distances": 8, "num_features": 1}, "task.num_features=1"),
    (Referent, {"distances": 8, "num_distractors": 63}, "task.num_distractors=63: .* more than task.seq_len=64"),
    (Referent, {"distances": 2, "num_distractors": 2}, r"task.distances=2: .* \[3, 57\] .*num_distractors=2 sets"),
    (Referent, {"distances": 8, "seq_len": 62}, "task.instances=4, task.seq_len=62: 4 instances need seq_len >= 63"),
    (Referent, {"distances": 8, "entity_prob": 1.5}, "task.entity_prob=1.5"),
    (Referent, {"distances": 8, "entities_per_feature": 1}, "task.entities_per_feature=1"),
    (Brackets, {"distances": 8, "num_types": 1}, "task.num_types=1"),
    (Brackets, {"distances": 8, "filler_prob": -0.1}, "task.filler_prob=-0.1"),
    (Brackets, {"distances": 64}, r"task.distances=64: .* \[1, 63\]"),
], ids=lambda value: value.__name__ if isinstance(value, type) else None)
def test_impossible_settings_name_the_key_and_the_limit(make, kwargs, message):
    with pytest.raises(TaskConfigError, match=message):
        make(**kwargs)


def test_no_setting_is_clipped():
    """A distance the layout cannot hold is refused, never moved to the nearest one that fits."""
    for name, (_, make) in CASES.items():
        low, high = distance_range(name)
        for bad in (low - 1, high + 1):
            if bad >= 1:
                with pytest.raises(TaskConfigError, match=re.escape(f"task.distances={bad}")):
                    make(distances=bad)


@pytest.mark.parametrize("name", ["recall", "flipflop", "assoc_recall", "copy", "selective_copy", "brackets",
                                  "referent", "adding"])
def test_brute_force_reading_agrees_at_the_longest_extrapolation_distance(name):
    """train.extrapolate rebuilds each task at the shortest length that holds the distance (harness.config):
    there, at 1024 steps back, the task still plants what the readers find."""
    from support import compose_config

    from harness.config import task_holding

    cfg = compose_config([f"task={name}", "train.protocol=dense", "task.distances=[8,64]"])
    task, length = task_holding(cfg.task, None, 1024, "train.extrapolate")
    batch = task.sample(4, data_generator(task.name, 0, "val", 1024), 1024)
    read = CASES[name][0]
    assert batch.inputs.shape[1] == length and (batch.distance == 1024).any()
    for inputs, targets, distance in zip(batch.inputs.tolist(), batch.targets.tolist(), batch.distance.tolist()):
        expected_targets, expected_distances = read(task, inputs)
        assert targets == expected_targets and distance == expected_distances
