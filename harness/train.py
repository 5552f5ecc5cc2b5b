"""The training loop, top to bottom: the schedule, evaluation, one training step, training, one whole run.

Fresh samples every step, AdamW with warmup and a constant rate, clipped gradients. Every ``eval_every`` steps
the validation sets of the listed distances are scored (the history; a run stops once every trained distance
is at its target). At each rung of the budget ladder (``train.rungs``) the validation and test sets of every
distance of the fine curve are scored and stored: the evidence any rule needs. Whether the run climbs on is
the caller's ``judge`` (run.py asks harness.verdict); the loop itself holds no rule, so the rule is not part of
a run's identity and a changed rule re-judges stored evidence instead of retraining.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from harness import record as records
from harness import runtime
from harness.config import TrainConfig
from harness.record import HistoryPoint, MetricsLog, RungResult
from models.base import LengthError
from tasks.base import IGNORE, data_generator

log = logging.getLogger("run")


def learning_rate(step: int, train: TrainConfig) -> float:
    """Linear warmup, then constant: a rate that does not know the budget lets a run climb to the next rung as
    if it had always been going there (Hägele et al. 2024, arXiv:2405.18392, find constant rates match cosine
    once cooled down; our windows are read at accuracy thresholds, where the ladder's own comparison of rungs
    shows whether more steps at this rate still change anything). ``cosine`` decays to min_lr_ratio * lr at
    the top rung, for a fixed budget."""
    if step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    if train.schedule == "constant":
        return train.lr
    progress = (step - train.warmup_steps) / max(1, train.rungs[-1] - train.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return train.lr * (train.min_lr_ratio + (1.0 - train.min_lr_ratio) * cosine)


def held_out_sets(task, distances, sequences: int, seed: int, role: str, device) -> dict:
    """One fixed set per distance, each from its own stream, so a distance's score never depends on which
    other distances are evaluated."""
    return {d: task.sample(sequences, data_generator(task.name, seed, role, d, device), d) for d in distances}


class SetScore(NamedTuple):
    accuracy: float  # positions at the set's own distance
    n: int
    accuracy_all: float  # every scored position of the set
    n_all: int


@torch.inference_mode()
def evaluate(model, sets: dict, batch_size: int, autocast, answers: dict | None = None
             ) -> tuple[dict[int, SetScore], dict[int, tuple]]:
    """Per set: accuracy at its own distance and over all its scored positions; plus incidental accuracy (other
    distances scored inside the sets, pooled by distance). Scored positions only; one host sync in all. With
    ``answers`` (a dict), also fills it with each set's right and wrong answers at its planted positions, in a
    fixed order, packed as hex: two rungs scored on one set can then be compared position by position."""
    model.eval()
    device = next(iter(sets.values())).inputs.device
    bins = max(sets) + 1 + max(batch.inputs.shape[1] for batch in sets.values())
    totals = torch.zeros(len(sets), 4, device=device)  # planted hits, planted n, all hits, all n
    incidental = torch.zeros(2, bins, device=device)  # hits, n
    for i, (distance, batch) in enumerate(sets.items()):
        for start in range(0, batch.inputs.shape[0], batch_size):
            inputs, targets, tags = (t[start:start + batch_size] for t in (batch.inputs, batch.targets,
                                                                             batch.distance))
            with autocast:
                hits = model(inputs).argmax(dim=-1) == targets  # (B, L)
            scored, planted = tags >= 0, tags == distance
            totals[i] += torch.stack([(hits & planted).sum(), planted.sum(), (hits & scored).sum(), scored.sum()])
            if answers is not None:
                answers.setdefault(distance, []).append(hits[planted])
            other = (scored & ~planted).flatten().float()
            incidental += torch.stack([torch.bincount(tags.clamp(min=0).flatten(), other * hits.flatten().float(),
                                                      minlength=bins),
                                       torch.bincount(tags.clamp(min=0).flatten(), other, minlength=bins)])
    model.train()
    if answers is not None:
        for distance, parts in answers.items():
            answers[distance] = np.packbits(torch.cat(parts).cpu().numpy()).tobytes().hex()
    totals, incidental = totals.tolist(), incidental.tolist()
    scores = {d: SetScore(hit / max(n, 1), int(n), hit_all / max(n_all, 1), int(n_all))
              for d, (hit, n, hit_all, n_all) in zip(sets, totals)}
    return scores, {d: (h / n, int(n)) for d, (h, n) in enumerate(zip(*incidental)) if n > 0}


class Diverged(RuntimeError):
    pass


def uses_bf16(train: TrainConfig, model, device: torch.device) -> bool:
    """bf16 autocast on CUDA, for models that declare support (attention); never on CPU."""
    return train.bf16 and device.type == "cuda" and getattr(model, "supports_bf16_autocast", False)


class TrainingStep:
    """One optimizer step on a fresh batch, exactly as runs train; benchmarks time this same object.

    Loss and divergence are accumulated on the device, so a step issues no host sync; ``drain()``, called
    only at log and eval intervals, syncs once and raises ``Diverged`` naming the first non-finite step."""

    def __init__(self, task, model, train: TrainConfig, plan, seed: int, device: torch.device):
        self.task, self.model, self.train, self.plan = task, model, train, plan
        # fused: one kernel per step, and no per-parameter .item() on the step counters
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay,
                                           fused=True)
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(train, model, device))
        self.stream = data_generator(task.name, seed, "train", device=device)
        self.heldout = torch.tensor(plan.heldout, dtype=torch.long, device=device) if plan.heldout else None
        self.loss_sum = torch.zeros((), device=device)
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)
        self.steps_since_drain = 0

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of the next training batch. Incidental dependencies at a held-out distance (a read
        whose last write happens to lie 23 back) carry no loss, so held-out distances are never trained."""
        batch = self.task.sample(self.train.batch_size, self.stream, self.plan.train, self.plan.weights)
        if self.heldout is None:
            return batch.inputs, batch.targets
        return batch.inputs, batch.targets.masked_fill(torch.isin(batch.distance, self.heldout), IGNORE)

    def __call__(self, step: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step - 1, self.train)
        inputs, targets = self.batch()
        with self.autocast:
            logits = self.model(inputs)  # (B, L, C)
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.train.grad_clip)
        self.optimizer.step()
        loss = loss.detach()
        self.loss_sum += loss
        self.first_bad_step = torch.where((self.first_bad_step < 0) & ~torch.isfinite(loss), step,
                                          self.first_bad_step)
        self.steps_since_drain += 1

    def state_dict(self) -> dict:
        """Everything a resumed run needs to take the next step exactly as this one would have."""
        return {"optimizer": self.optimizer.state_dict(), "stream": self.stream.get_state(),
                "loss_sum": self.loss_sum, "first_bad_step": self.first_bad_step,
                "steps_since_drain": self.steps_since_drain}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.stream.set_state(state["stream"].cpu() if self.stream.device.type == "cpu" else state["stream"])
        self.loss_sum.copy_(state["loss_sum"])
        self.first_bad_step.copy_(state["first_bad_step"])
        self.steps_since_drain = int(state["steps_since_drain"])

    def drain(self) -> float:
        """Mean loss since the last drain (one host sync); raises Diverged after a non-finite loss."""
        bad_step = self.first_bad_step.item()
        if bad_step >= 0:
            raise Diverged(f"diverged at step {bad_step}: non-finite loss")
        mean_loss = self.loss_sum.item() / max(1, self.steps_since_drain)
        self.loss_sum.zero_()
        self.steps_since_drain = 0
        return mean_loss


def at_target(history: list[HistoryPoint], plan, target: float) -> bool:
    """Every trained distance of the latest evaluation at the target, on its planted and on all its positions."""
    latest = [p for p in history if p.step == history[-1].step and p.distance in set(plan.train)]
    return bool(latest) and all(min(p.accuracy, p.accuracy_all) >= target for p in latest)


def as_rows(scores: dict[int, SetScore], answers: dict[int, str] | None = None) -> list[list]:
    """[[distance, accuracy, n(, answers)], ...] ascending in distance: a curve as the record stores it."""
    return [[d, s.accuracy, s.n, *([answers[d]] if answers is not None else [])] for d, s in sorted(scores.items())]


def beyond_sets(task, beyond, sequences: int, seed: int, role: str, device) -> list[tuple[dict, int]]:
    """[(sets by distance, their sequence length)]: each distance past training at its own length, then the
    listed trained distances at the longest length (their streams named apart from the in-range ones)."""
    if beyond is None:
        return []
    groups = [({d: longer.sample(sequences, data_generator(task.name, seed, role, d, device), d)}, length)
              for d, (longer, length) in beyond.distances.items()]
    if beyond.positions is not None:
        longer, length, listed = beyond.positions
        groups.append(({d: longer.sample(sequences, data_generator(task.name, seed, role, f"{d}@{length}", device), d)
                        for d in listed}, length))
    return groups


def score_beyond(model, groups, train: TrainConfig, seq_len: int, autocast, answers: bool) -> list[list]:
    """[[distance, length, accuracy, n, answers], ...] over ``groups``; a batch size that shrinks with the square
    of the length keeps attention's memory where it is at the training length. Raises models' LengthError."""
    points = []
    for sets, length in groups:
        batch = max(1, int(train.eval_batch_size * (seq_len / length) ** 2))
        kept = {} if answers else None
        scores, _ = evaluate(model, sets, batch, autocast, kept)
        points += [[d, length, s.accuracy, s.n, (kept or {}).get(d, "")] for d, s in sorted(scores.items())]
    return points


def train(task, model, train: TrainConfig, plan, seed: int, device, run_dir: Path, tag: dict, judge, logger=None,
          label: str = "", progress: bool = False, beyond=None) -> dict:
    """Train up the ladder until ``judge`` calls the run final, it reaches its target, or it reaches
    ``train.climb_to`` (a pause the ladder resumes from); resume from a checkpoint of this config and code if
    there is one (``tag`` holds their hashes). ``judge(rungs)``: the rule's decision on the rungs so far
    (harness.verdict.RunDecision), asked after each rung. ``beyond`` (harness.config.Beyond): sets past the
    training length, scored at every rung beside the fine curve, never deciding anything in the loop. The run
    is checkpointed where it stops, so a rule that asks for more continues it. Returns the evidence fields of
    a finished record."""
    model.to(device).train()
    step_once = TrainingStep(task, model, train, plan, seed, device)
    val_sets = held_out_sets(task, plan.fine, train.val_sequences, seed, "val", device)
    test_sets = held_out_sets(task, plan.fine, train.eval_sequences, seed, "eval", device)
    watched = {d: val_sets[d] for d in plan.evaluated}  # the same sets: one stream per distance
    val_beyond = beyond_sets(task, beyond, train.val_sequences, seed, "val", device)
    test_beyond = beyond_sets(task, beyond, train.eval_sequences, seed, "eval", device)
    history, rungs, train_seconds, resumed, step, cannot = [], [], 0.0, [], 0, None
    state, refused = runtime.load_checkpoint(run_dir, tag["config_hash"], tag["source_hash"], device)
    if refused:
        log.warning(f"[{label}] {refused}: starting from step 0")
    if state is not None:
        history, rungs, train_seconds, resumed = runtime.restore(state, model, step_once)
        history, rungs = [HistoryPoint(**p) for p in history], [RungResult(**r) for r in rungs]
        step, cannot = state["step"], state.get("cannot")
        log.info(f"[{label}] resumed from step {step}")
    stop_at, ladder = train.climb_to or train.rungs[-1], set(train.rungs)
    final = bool(rungs) and rungs[-1].step == step and (rungs[-1].at_target or judge(rungs).verdict != "climbing")
    metrics, signals = MetricsLog(run_dir / records.METRICS_FILE, keep_until=step), runtime.PreemptionSignal()
    bar = tqdm(initial=step, total=stop_at, desc=label, disable=not progress, leave=False, dynamic_ncols=True)

    def score_rung(reached: bool) -> bool:
        """Score every distance of the fine curve (and past the training length) on validation and on test, store
        the rung, and ask ``judge`` whether the run is final."""
        nonlocal cannot
        answers, past, past_test = {}, [], []
        val, _ = evaluate(model, val_sets, train.eval_batch_size, step_once.autocast, answers)
        test, incidental = evaluate(model, test_sets, train.eval_batch_size, step_once.autocast)
        if val_beyond and cannot is None:
            try:
                past = score_beyond(model, val_beyond, train, task.seq_len, step_once.autocast, answers=True)
                past_test = [row[:4] for row in score_beyond(model, test_beyond, train, task.seq_len,
                                                             step_once.autocast, answers=False)]
            except LengthError as error:  # the model cannot take the input at all: recorded, never a zero
                cannot = str(error)
        rungs.append(RungResult(step, as_rows(val, answers), as_rows(test), reached, past, past_test,
                                [[d, a, n] for d, (a, n) in sorted(incidental.items())]))
        made = judge(rungs)
        log.info(f"[{label}] rung {step}: {made.verdict} (window {made.window.text}; {made.why})")
        metrics.write(step=step, rung=made.verdict, window=made.window.text)
        return reached or made.verdict != "climbing"

    started = time.perf_counter()
    try:
        while step < stop_at and not final:
            step += 1
            step_once(step)
            bar.update()
            is_eval, reached = step % train.eval_every == 0 or step in ladder, False
            if step % train.log_every == 0 or is_eval:
                loss = step_once.drain()
                values = {"step": step, "loss": loss, "lr": learning_rate(step - 1, train),
                          "elapsed_s": train_seconds + time.perf_counter() - started}
                if is_eval:
                    train_seconds += time.perf_counter() - started
                    scores, _ = evaluate(model, watched, train.eval_batch_size, step_once.autocast)
                    history += [HistoryPoint(step, d, *score) for d, score in scores.items()]
                    values["val_accuracy"] = {str(d): score.accuracy for d, score in scores.items()}
                    bar.set_postfix(loss=f"{loss:.3f}")
                    if not progress:
                        summary = " ".join(f"{d}:{score.accuracy:.2f}" for d, score in scores.items())
                        log.info(f"[{label}] step {step}/{stop_at} loss {loss:.4f} val {summary}")
                    reached = at_target(history, plan, train.target_accuracy)
                    started = time.perf_counter()
                metrics.write(**values)
                if logger is not None:
                    logger.log(values)
            if step in ladder or reached or step == stop_at:
                train_seconds += time.perf_counter() - started
                final = score_rung(reached)
                started = time.perf_counter()
            if signals.pending or (train.checkpoint_every and step % train.checkpoint_every == 0):
                train_seconds += time.perf_counter() - started
                runtime.save_checkpoint(run_dir, runtime.snapshot(tag, step, model, step_once, history, rungs,
                                                                  train_seconds, resumed, cannot))
                started = time.perf_counter()
                if signals.pending:
                    signals.hand_over()  # submitit requeues the job; the next attempt resumes here
        if not rungs or rungs[-1].step != step:  # resumed past the rung asked for: score where it stands
            score_rung(False)
        train_seconds += time.perf_counter() - started
        runtime.save_checkpoint(run_dir, runtime.snapshot(tag, step, model, step_once, history, rungs, train_seconds,
                                                          resumed, cannot))  # a rule that asks for more goes on here
    finally:
        signals.restore()
        metrics.close()
        bar.close()
    return {"trained_steps": step, "cannot": cannot, "history": history, "rung_results": rungs,
            "train_time_s": train_seconds, "resumed_from": resumed,
            "tokens_per_s": step * train.batch_size * task.seq_len / max(train_seconds, 1e-9)}  # spans resumes
