"""How a task exposes its load (docs/adding-a-task.md): ``pending``, what a model must hold at each scored position,
against a loop-by-loop reading of each sequence; and a load sweep that holds the sequence length, the vocabulary and
the parameter count fixed, whose every load passes the brute-force readers at both ends of its distances."""

from __future__ import annotations

import pytest
from support import compose_config
from test_tasks_catalog import CASES, read_all, read_assoc_recall, read_copy, read_recall

from harness.config import build
from tasks.assoc_recall import AssocRecall
from tasks.base import NO_DISTANCE, TaskConfigError, data_generator
from tasks.copy import Copy
from tasks.instances import min_seq_len
from tasks.recall import Recall

# The load sweep of issue 25 at the shortest lengths that hold distance 128 at its largest load, 32.
RECALL_LENGTH, ASSOC_LENGTH = 249, 130
RECALL_LOADS = [1, 2, 4, 8, 16, 32]
ASSOC_LOADS = list(range(1, 33))


def recall_at(load: int, **settings) -> Recall:
    return Recall(**{"distances": [8, 128], "seq_len": RECALL_LENGTH, "instances": load, "vocab_instances": 32,
                     **settings})


def assoc_recall_at(load: int, **settings) -> AssocRecall:
    return AssocRecall(**{"distances": [8, 128], "seq_len": ASSOC_LENGTH, "num_pairs": load, "num_queries": None,
                          "num_keys": 32, **settings})


# ---------------------------------------------------------------------------------------------- brute-force readers
# Each returns, for one sequence as a list of token ids, the items pending at every queried position, -1 elsewhere.


def read_pending_recall(task, seq):
    """The instances whose value stands before the query and whose own query stands at it or after it."""
    value_at, query_at = {}, {}
    for t, token in enumerate(seq):
        if token >= task.query:
            query_at[token - task.query] = t
        elif token >= task.marked:
            value_at[(token - task.marked) // task.num_symbols] = t
    pending = [NO_DISTANCE] * len(seq)
    for t in query_at.values():
        pending[t] = sum(value_at[i] < t <= query_at[i] for i in query_at)
    return pending


def read_pending_assoc_recall(task, seq):
    """The stored pairs whose key no earlier query has asked for (a pair never asked stays pending)."""
    start = 2 * task.num_pairs
    pending = [NO_DISTANCE] * len(seq)
    for t in range(start, len(seq)):
        if seq[t] != task.blank:
            asked = {seq[s] for s in range(start, t) if seq[s] != task.blank}
            pending[t] = sum(seq[j] not in asked for j in range(0, start, 2))
    return pending


READ_PENDING = {Recall: read_pending_recall, AssocRecall: read_pending_assoc_recall}


def pending_reads_correctly(task, batch) -> bool:
    read = READ_PENDING[type(task)]
    return task.pending(batch).tolist() == [read(task, inputs) for inputs in batch.inputs.tolist()]


PENDING_CASES = {
    "recall": CASES["recall"][1],
    "recall_one": CASES["recall_one"][1],
    "assoc_recall_some_never_asked": CASES["assoc_recall"][1],
    "assoc_recall_every_pair_asked": lambda **kw: CASES["assoc_recall"][1](num_queries=None, **kw),
    "recall_load_32": lambda **kw: recall_at(32, **kw),
    "assoc_recall_load_32": lambda **kw: assoc_recall_at(32, **kw),
}


@pytest.mark.parametrize("name", PENDING_CASES)
def test_pending_agrees_with_a_brute_force_reading(name):
    make = PENDING_CASES[name]
    task = make(distances=8)
    low, high = task.min_distance, task.max_distance
    for distance in ([low, (low + high) // 2, high], None):
        batch = task.sample(40, data_generator(task.name, 0, "train"), distance=distance)
        assert pending_reads_correctly(task, batch), name


def test_pending_counts_pairs_never_asked_to_the_end():
    """With one query for four pairs, the query always sees all four pending; with every pair asked, the queries
    see four, three, two and one, in the order they stand."""
    one = AssocRecall(distances=8, seq_len=24, num_pairs=4, num_queries=1, num_keys=6)
    every = AssocRecall(distances=8, seq_len=24, num_pairs=4, num_queries=None, num_keys=6)
    assert every.num_queries == 4
    for task, expected in ((one, [4]), (every, [4, 3, 2, 1])):
        batch = task.sample(30, data_generator(task.name, 0, "train"), distance=8)
        for row in task.pending(batch).tolist():
            assert [p for p in row if p != NO_DISTANCE] == expected


# ---------------------------------------------------------------------------------------------- the load sweep


def test_the_shortest_lengths_that_hold_the_sweep_at_its_largest_load():
    """Recall: 32 instances need 249 steps at any distance up to 128 (4 (k - 1) * 2 + 1, the placement's bound),
    so 8..64 and 8..128 share a length. Assoc recall: distance d needs d + 2 steps, and 32 pairs asked once each
    need 2 * 32 + 32: 130 holds 8..128, 96 holds 8..64."""
    assert min_seq_len(32, 0, 8, 128) == min_seq_len(32, 0, 8, 64) == RECALL_LENGTH
    with pytest.raises(TaskConfigError, match="task.instances=32, task.seq_len=248: 32 instances need seq_len >= 249"):
        recall_at(32, seq_len=248)
    assert recall_at(32).max_distance >= 128 and assoc_recall_at(32).max_distance == 128
    assert assoc_recall_at(32, seq_len=96, distances=[8, 64]).max_distance >= 64
    with pytest.raises(TaskConfigError, match=r"task.distances=\[8, 128\]: .*\[1, 127\] .*task.seq_len=129 sets "
                                              r"the maximum, seq_len - 2: distance 128 needs seq_len >= 130"):
        assoc_recall_at(32, seq_len=129)
    with pytest.raises(TaskConfigError, match=r"task.seq_len=95: .* leaving 31 .*num_queries=32.*task.num_pairs=32 "
                                              r"needs seq_len >= 96"):
        assoc_recall_at(32, seq_len=95, distances=[8, 64])


@pytest.mark.parametrize("make, loads", [(recall_at, RECALL_LOADS), (assoc_recall_at, ASSOC_LOADS)],
                         ids=["recall", "assoc_recall"])
def test_every_load_keeps_the_length_and_the_vocabulary(make, loads):
    tasks = [make(load) for load in loads]
    assert {(task.seq_len, task.vocab_size, task.num_classes) for task in tasks} == \
        {(tasks[-1].seq_len, tasks[-1].vocab_size, tasks[-1].num_classes)}
    assert [getattr(task, task.load_key) for task in tasks] == loads


def parameters(*overrides) -> int:
    model = build(compose_config(["model=gru", "train.protocol=dense", "task.distances=[8,128]", *overrides])).model
    return sum(p.numel() for p in model.parameters())


def test_a_load_sweep_holds_the_parameter_count_fixed():
    """Sized for the largest load, the GRU has the same parameters at load 1 and 32; sized for each load (the
    default, vocab_instances null), recall's vocabulary, and so the GRU, grows with it."""
    recall = ["task=recall", f"task.seq_len={RECALL_LENGTH}"]
    assoc = ["task=assoc_recall", f"task.seq_len={ASSOC_LENGTH}", "task.num_queries=null", "task.num_keys=32"]
    assert parameters(*recall, "task.instances=1", "task.vocab_instances=32") == \
        parameters(*recall, "task.instances=32", "task.vocab_instances=32")
    assert parameters(*assoc, "task.num_pairs=1") == parameters(*assoc, "task.num_pairs=32")
    assert parameters(*recall, "task.instances=1") < parameters(*recall, "task.instances=32")


def sweep_distances(task) -> list[int]:
    """The ends of the sweep's distances and of the task's own range."""
    return sorted({task.min_distance, 8, 128, task.max_distance})


@pytest.mark.parametrize("load", RECALL_LOADS)
def test_recall_reads_correctly_at_every_load_of_the_sweep(load):
    task = recall_at(load)
    for d in sweep_distances(task):
        batch = task.sample(8, data_generator(task.name, load, "eval", d), distance=d)
        assert read_all(task, batch, read_recall) and pending_reads_correctly(task, batch)
        assert ((batch.distance == d).sum(dim=1) == load).all()


@pytest.mark.parametrize("load", ASSOC_LOADS)
def test_assoc_recall_reads_correctly_at_every_load_of_the_sweep(load):
    task = assoc_recall_at(load)
    for d in sweep_distances(task):
        batch = task.sample(8, data_generator(task.name, load, "eval", d), distance=d)
        assert read_all(task, batch, read_assoc_recall) and pending_reads_correctly(task, batch)
        assert (batch.distance == d).any(dim=1).all() and ((batch.distance >= 0).sum(dim=1) == load).all()


@pytest.mark.parametrize("load", RECALL_LOADS)
def test_copy_reads_correctly_at_high_loads(load):
    """Copy's load is num_items; its shortest distance is num_items + 1, so loads above 7 cannot make distance 8."""
    task = Copy(distances=128, seq_len=RECALL_LENGTH, num_items=load)
    assert task.min_distance == load + 1
    for d in (task.min_distance, 128, task.max_distance):
        batch = task.sample(8, data_generator(task.name, load, "eval", d), distance=d)
        assert read_all(task, batch, read_copy) and ((batch.distance == d).sum(dim=1) == load).all()


@pytest.mark.parametrize("make, kwargs, message", [
    (Recall, {"distances": 8, "instances": 32, "vocab_instances": 16, "seq_len": 249},
     "task.vocab_instances=16: .*task.instances=32 instances; set it >= 32, or null"),
    (Recall, {"distances": 8, "vocab_instances": 0}, "task.vocab_instances=0: must be an integer >= 1"),
    (Recall, {"distances": 200, "instances": 32, "seq_len": 249},
     r"task.distances=200: .*\[1, 186\] .*task.seq_len=249 and task.instances=32 .*seq_len >= 263"),
    (AssocRecall, {"distances": 8, "num_pairs": 33, "num_keys": 32, "seq_len": 130},
     r"task.num_pairs=33: more key-value pairs than distinct keys \(num_keys=32\)"),
], ids=["vocab_below_load", "vocab_zero", "recall_too_far", "assoc_beyond_keys"])
def test_a_load_the_settings_cannot_make_is_refused_naming_the_keys(make, kwargs, message):
    with pytest.raises(TaskConfigError, match=message):
        make(**kwargs)
