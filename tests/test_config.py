"""harness/config.py: bad configs are refused before any compute (exit non-zero fast, a last line that names the
key, the value and what is allowed, and no result.json; one table, each row through run.py's real entry point),
the config hash, and the distance plan of each protocol."""

from __future__ import annotations

import json
import math

import pytest
from support import compose_config, run_script

from harness.config import ConfigError, build, config_hash

# (overrides, text the last line must contain: the key and the bad value, and text saying what is allowed)
BAD_INPUTS = [
    (["model=transformerxl"], "model='transformerxl'", "allowed are attention"),
    (["task=sorting"], "task='sorting'", "allowed are"),
    (["train=slow"], "train='slow'", "allowed are default"),
    (["experiment=nope"], "experiment='nope'", "allowed are"),
    (["train.stepz=10"], "train.stepz=10", "allowed are batch_size"),
    (["+model.heads=3"], "model.heads=3", "allowed are d_model"),
    (["+task.noise=0.1"], "task.noise=0.1", "allowed are distances"),
    (["+train.momentum=0.9"], "train.momentum=0.9", "allowed are batch_size"),
    (["+bogus=1"], "bogus=1", "allowed are device"),
    (["task.distances=128"], "task.distances=128", "[1, 127]"),
    (["task.distances=0"], "task.distances=0", "[1, 127]"),
    (["task.distances=2.5"], "task.distances=2.5", "integers"),
    (["task.eval_distances=[4,500]"], "task.eval_distances=[4, 500]", "[1, 127]"),
    (["task.seq_len=0"], "task.seq_len=0", "integer >= 2"),
    (["task.num_symbols=1"], "task.num_symbols=1", "integer >= 2"),
    (["task=recall", "task.instances=1", "task.seq_len=5", "task.distances=5"], "task.distances=5", "[1, 4]"),
    (["task=recall", "task.seq_len=20", "task.distances=4"], "task.instances=4, task.seq_len=20", "seq_len >= 25"),
    (["model.d_model=0"], "model.d_model=0", "positive integer"),
    (["model.n_heads=3"], "model.n_heads=3", "must divide model.d_model=64"),
    (["model.window=0"], "model.window=0", "positive integer"),
    (["model.positional=xpos"], "model.positional='xpos'", "allowed are sinusoidal"),
    (["model=lstm", "model.gate_init=orthogonal"], "model.gate_init='orthogonal'", "allowed for model.kind=LSTM"),
    (["model.path=flash"], "model.path='flash'", "allowed are fused"),
    (["model.dropout=1.5"], "model.dropout=1.5", "[0, 1)"),
    (["model=gru", "model.kind=TRANSFORMER"], "model.kind='TRANSFORMER'", "allowed are RNN, GRU, LSTM"),
    (["model=lstm", "model.hidden_size=-1"], "model.hidden_size=-1", "positive integer"),
    (["train.batch_size=-4"], "train.batch_size=-4", "must be > 0"),
    (["train.lr=0"], "train.lr=0", "must be > 0"),
    (["train.lr=abc"], "train.lr='abc'", "type float"),
    (["train.eval_every=0"], "train.eval_every=0", "must be > 0"),
    (["train.target_accuracy=1.5"], "train.target_accuracy=1.5", "(0, 1]"),
    (["train.protocol=sometimes"], "train.protocol='sometimes'", "allowed are per_distance, mixed"),
    (["train.rungs=[1000,500]"], "train.rungs=[1000, 500]", "each rung must be above the one before"),
    (["train.rungs=[]"], "train.rungs=[]", "non-empty list of positive step counts"),
    (["train.rungs=[0,10]"], "train.rungs=[0, 10]", "non-empty list of positive step counts"),
    (["train.climb_to=300"], "train.climb_to=300", "must be null (the top) or one of train.rungs"),
    (["train.schedule=sometimes"], "train.schedule='sometimes'", "allowed are constant, cosine"),
    (["task=recall", "train.protocol=dense", "task.distances=[8,64]", "task.seq_len=72", "train.extrapolate=[32]"],
     "train.extrapolate=[32]", "longer than the longest trained distance, 64; got 32"),
    (["train.protocol=mixed", "task.distances=[8,16]", "train.extrapolate=[32]"], "train.extrapolate=[32]",
     "NBack cannot be evaluated at distances it never trained on"),
    (["train.heldout=maybe"], "train.heldout='maybe'", "allowed are auto, none"),
    (["train.val_sequences=0"], "train.val_sequences=0", "the test sets decide nothing"),
    (["logger=mlflow"], "logger='mlflow'", "allowed are none, tensorboard, wandb"),
    (["train.protocol=mixed"], "task.distances=[8]", "at least two distances"),
    (["task.distances=[2,4]"], "task.distances=[2, 4]", "protocol=mixed"),
    (["seed=-1"], "seed=-1", "non-negative integer"),
    (["device=tpu"], "device='tpu'", "allowed are auto, cpu, cuda"),
    (["threads=0"], "threads=0", "auto or a positive integer"),
    (["task.distances=[1,2"], "task.distances=[1,2", "cannot parse"),
]


def test_the_table_is_large_enough():
    assert len(BAD_INPUTS) >= 20


def test_every_bad_input_is_refused_clearly_and_early(tmp_path):
    out_root = tmp_path / "outputs"
    cases = [json.dumps(overrides) for overrides, _, _ in BAD_INPUTS]
    driver = run_script(["tests/helpers/cli_cases.py", str(out_root), *cases], timeout=240)
    assert driver.returncode == 0, driver.stderr
    outcomes = [json.loads(line) for line in driver.stdout.splitlines() if line.startswith("{")]
    assert len(outcomes) == len(BAD_INPUTS)
    problems = []
    for (overrides, names, allowed), outcome in zip(BAD_INPUTS, outcomes):
        last_line = outcome["last_line"]
        if outcome["code"] == 0 or names not in last_line or allowed not in last_line or outcome["trained"]:
            problems.append(f"{overrides}: exit {outcome['code']}, {'after' if outcome['trained'] else 'before'} "
                            f"training began, last line {last_line!r}")
    assert not problems, "\n".join(problems)
    assert not list(out_root.rglob("result.json")), "a refused config must not write result.json"
    assert not [p for p in out_root.rglob("*") if p.is_dir() and p.name.startswith(("attention_", "gru_", "lstm_"))], \
        "a refused config must not leave a run directory behind"


@pytest.mark.parametrize("overrides", [["model=transformerxl"], ["model.n_heads=3"]])
def test_a_fresh_interpreter_refuses_with_one_last_line_and_leaves_nothing(tmp_path, overrides):
    result = run_script(["run.py", f"out_root={tmp_path}", *overrides])
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith("config error: ")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "a refused config leaves no file behind"


def test_the_driver_lets_a_good_config_through(tmp_path):
    """Guard against a vacuous table: the same driver runs a valid tiny config to a finished result."""
    good = json.dumps(["train=quick", "train.rungs=[2]", "train.eval_every=2", "train.eval_sequences=4",
                       "task.seq_len=8", "task.distances=2"])
    driver = run_script(["tests/helpers/cli_cases.py", str(tmp_path), good])
    [outcome] = [json.loads(line) for line in driver.stdout.splitlines() if line.startswith("{")]
    assert outcome["code"] == 0 and outcome["trained"], "the driver sees training begin when it does"
    [record] = [json.loads(p.read_text()) for p in tmp_path.rglob("result.json")]
    assert record["status"] == "finished"


# ------------------------------------------------------------------------------------------------ config hash


def test_config_hash_ignores_where_and_how_a_run_executes():
    base = config_hash(compose_config([]))
    assert base == config_hash(compose_config(["threads=1", "device=cpu", "name=other", "out_root=/elsewhere",
                                               "logger=tensorboard"]))
    assert base != config_hash(compose_config(["seed=1"]))
    assert base != config_hash(compose_config(["model.d_model=32"]))
    assert base != config_hash(compose_config(["train.lr=0.003"]))


def test_the_ladder_is_outside_the_hash_unless_the_schedule_reads_it():
    """A run that climbs further continues the same run: under a constant rate neither the rungs nor the pause
    change what it computes. A cosine schedule decays to its top rung, so there the top is part of the hash."""
    base = config_hash(compose_config([]))
    assert base == config_hash(compose_config(["train.rungs=[500,1000,2000,4000,8000]", "train.climb_to=1000"]))
    cosine = config_hash(compose_config(["train.schedule=cosine"]))
    assert cosine != base
    assert cosine != config_hash(compose_config(["train.schedule=cosine", "train.rungs=[500,1000]"]))


# ------------------------------------------------------------------------------------------------ building

ZOOLOGY_STYLE_TASK = '''
from tasks.nback import NBack


class SizedNBack(NBack):
    """A task whose own constructor takes vocab_size, as Zoology's generators do."""

    def __init__(self, vocab_size: int = 8, **settings):
        super().__init__(num_symbols=vocab_size, **settings)
'''


def test_a_task_may_take_keys_that_models_receive_from_the_task(tmp_path, monkeypatch):
    """Defect: vocab_size, num_classes and max_len were removed from the task's allowed keys as well as the
    model's, so a task taking vocab_size was refused with `task.vocab_size=...: unknown key`."""
    (tmp_path / "sized_task.py").write_text(ZOOLOGY_STYLE_TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = compose_config(["task._target_=sized_task.SizedNBack", "~task.num_symbols", "+task.vocab_size=6"])
    built = build(cfg)
    assert built.task.num_symbols == 6 and built.task.vocab_size == 6
    with pytest.raises(ConfigError, match=r"model.vocab_size=6: unknown key"):
        build(compose_config(["+model.vocab_size=6"]))  # the model's comes from the task, never from its YAML


def plan_of(*overrides):
    return build(compose_config(list(overrides)), build_model=False).plan


def test_per_distance_and_mixed_plans_train_on_what_is_listed():
    assert plan_of("task.distances=8").train == [8] and plan_of("task.distances=8").heldout == []
    mixed = plan_of("task=recall", "train.protocol=mixed", "task.distances=[8,32,128]", "task.seq_len=136")
    assert mixed.train == [8, 32, 128] and mixed.weights is None
    assert mixed.heldout == [16, 64]  # geometric midpoints, never trained, always evaluated
    assert mixed.evaluated == [8, 16, 32, 64, 128]


def test_the_dense_plan_trains_every_producible_integer_log_uniformly_except_the_held_out():
    dense = plan_of("task=recall", "train.protocol=dense", "task.distances=[8,16,32]", "task.seq_len=40")
    assert dense.heldout == [11, 23]
    assert dense.train == [d for d in range(8, 33) if d not in (11, 23)]
    gaps = [math.log(b / a) for a, b in zip(dense.train, dense.train[1:])]
    assert dense.weights == pytest.approx([gaps[0], *gaps])  # about 1/d: equal mass per octave
    assert dense.evaluated == [8, 11, 16, 23, 32]
    assert dense.fine == list(range(8, 33))  # every producible distance: the curve windows are located on
    assert plan_of("task=recall", "train.protocol=dense", "task.distances=[8,16]", "train.heldout=none",
                   "task.seq_len=40").heldout == []


def test_a_task_whose_tokens_name_the_distance_holds_nothing_out():
    """n-back tags every token with its lag: an untrained lag is an untrained token, so nothing is held out."""
    assert plan_of("train.protocol=mixed", "task.distances=[8,32]").heldout == []


def test_dense_n_back_weighs_every_log_spaced_lag_alike():
    """Weights of 1/d over lags that are already log-spaced starved the longest lag (128 drew 16x fewer
    sequences than 8): dense weights are equal mass per octave, so log-spaced lags get equal shares, and the
    fine curve is the lags the task can make."""
    plan = plan_of("train.protocol=dense", "task.distances=[8,16,32,64,128]", "task.seq_len=136")
    assert plan.train == [8, 16, 32, 64, 128]
    assert plan.weights == pytest.approx([math.log(2)] * 5)
    assert plan.fine == [8, 16, 32, 64, 128]


SHORT_REACH_TASK = '''
from tasks.recall import Recall


class ShortReach(Recall):
    """Recall that can place a value at most 40 back, however long the sequence."""

    def producible(self, distance):
        return super().producible(distance) and distance <= 40
'''


def test_an_extrapolation_distance_no_length_can_hold_is_refused_naming_the_limit(tmp_path, monkeypatch):
    (tmp_path / "short_reach.py").write_text(SHORT_REACH_TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    overrides = ["task=recall", "task._target_=short_reach.ShortReach", "train.protocol=dense",
                 "task.distances=[8,32]", "task.seq_len=40"]
    with pytest.raises(ConfigError, match=r"train.extrapolate=\[64\]: ShortReach cannot make distance 64 at any "
                                          r"sequence length up to 191 \(task.seq_len="):
        build(compose_config([*overrides, "train.extrapolate=[64]"]), build_model=False)


def test_each_extrapolation_distance_gets_the_shortest_length_that_holds_it():
    built = build(compose_config(["task=recall", "train.protocol=dense", "task.distances=[8,64]", "task.seq_len=72",
                                  "train.extrapolate=[128,1024]"]), build_model=False)
    lengths = {d: length for d, (task, length) in built.beyond.distances.items()}
    assert lengths == {128: 128 + 7 + 8, 1024: 1024 + 7 + 8}  # 4 instances need d + 2k - 1; plus the margin
    for d, (task, length) in built.beyond.distances.items():
        assert task.seq_len == length and task.producible(d) and task.distances == [8, 64]
    task, length, listed = built.beyond.positions
    assert length == 1039 and listed == [8, 64]
    assert config_hash(compose_config([])) == config_hash(compose_config(["train.extrapolate=[]"]))
