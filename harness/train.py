"""The training loop, top to bottom: the schedule, evaluation, one training step, training, one whole run.

Fresh samples every step, AdamW with warmup and cosine decay, clipped gradients. Every ``eval_every`` steps the
validation sets (one per distance) decide whether to stop; the test sets are scored once, at the end.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from tqdm import tqdm

from harness import record as records
from harness import runtime
from harness.config import TrainConfig
from harness.record import DistanceScore, HistoryPoint, MetricsLog
from harness.trend import has_settled, left_chance, visibly_rising
from tasks.base import IGNORE, data_generator

log = logging.getLogger("run")


def learning_rate(step: int, train: TrainConfig) -> float:
    """Linear warmup, then cosine decay to min_lr_ratio * lr at the last step."""
    if step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    progress = (step - train.warmup_steps) / max(1, train.steps - train.warmup_steps)
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
def evaluate(model, sets: dict, batch_size: int, autocast) -> tuple[dict[int, SetScore], dict[int, tuple]]:
    """Per set: accuracy at its own distance and over all its scored positions; plus incidental accuracy (other
    distances scored inside the sets, pooled by distance). Scored positions only; one host sync in all."""
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
            other = (scored & ~planted).flatten().float()
            incidental += torch.stack([torch.bincount(tags.clamp(min=0).flatten(), other * hits.flatten().float(),
                                                      minlength=bins),
                                       torch.bincount(tags.clamp(min=0).flatten(), other, minlength=bins)])
    model.train()
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
        self.loss_sum = torch.zeros((), device=device)
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)
        self.steps_since_drain = 0

    def __call__(self, step: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step - 1, self.train)
        batch = self.task.sample(self.train.batch_size, self.stream, self.plan.train, self.plan.weights)
        with self.autocast:
            logits = self.model(batch.inputs)  # (B, L, C)
        loss = F.cross_entropy(logits.float().flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE)
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


def stop_reason(history: list[HistoryPoint], plan, train: TrainConfig, chance: float) -> str | None:
    """``target`` once every trained distance's set scores the target on all its scored positions and on its
    planted ones; ``settled`` (with stop_when=settled, from step min_steps on) once every evaluated distance has
    left chance and is at the target or shown to have stopped rising on all its scored positions, and its planted
    curve does not visibly rise (trend.py). A distance still at chance may be on the plateau that runs sit on
    before they learn it (attention learns n-back's distances one after another): it trains on."""
    curves: dict[int, list[HistoryPoint]] = {}
    for point in history:
        curves.setdefault(point.distance, []).append(point)
    trained = [d for d in curves if d in set(plan.train)]
    if trained and all(min(curves[d][-1].accuracy, curves[d][-1].accuracy_all) >= train.target_accuracy
                       for d in trained):
        return "target"
    def settled(curve: list[HistoryPoint]) -> bool:
        steps, every, counts = [p.step for p in curve], [p.accuracy_all for p in curve], [p.n_all for p in curve]
        return (left_chance(every, counts, chance) and has_settled(steps, every, counts, train.target_accuracy)
                and not visibly_rising(steps, [p.accuracy for p in curve], [p.n for p in curve]))

    if train.stop_when == "settled" and history[-1].step >= train.min_steps and all(map(settled, curves.values())):
        return "settled"
    return None


def train(task, model, train: TrainConfig, plan, seed: int, device, run_dir: Path, tag: dict, logger=None,
          label: str = "", progress: bool = False) -> dict:
    """Train until a stop reason or the cap, resuming from a checkpoint of this config and code if one exists
    (``tag`` holds their hashes); returns the fields of a finished record."""
    model.to(device).train()
    step_once = TrainingStep(task, model, train, plan, seed, device)
    test_sets = held_out_sets(task, plan.evaluated, train.eval_sequences, seed, "eval", device)
    val_sets = held_out_sets(task, plan.evaluated, train.val_sequences, seed, "val", device) \
        if train.val_sequences else test_sets
    history, reason, train_seconds, resumed = [], "cap", 0.0, []
    state, refused = runtime.load_checkpoint(run_dir, tag["config_hash"], tag["source_hash"], device)
    if refused:
        log.warning(f"[{label}] {refused}: starting from step 0")
    if state is not None:
        history, train_seconds, resumed = runtime.restore(state, model, step_once)
        history = [HistoryPoint(**point) for point in history]
        log.info(f"[{label}] resumed from step {state['step']}")
    first = resumed[-1] + 1 if resumed else 1
    metrics, signals = MetricsLog(run_dir / records.METRICS_FILE, keep_until=first - 1), runtime.PreemptionSignal()
    bar = tqdm(initial=first - 1, total=train.steps, desc=label, disable=not progress, leave=False,
               dynamic_ncols=True)
    started = time.perf_counter()
    try:
        for step in range(first, train.steps + 1):
            step_once(step)
            bar.update()
            is_eval = step % train.eval_every == 0 or step == train.steps
            if step % train.log_every == 0 or is_eval:
                loss = step_once.drain()
                values = {"step": step, "loss": loss, "lr": learning_rate(step - 1, train),
                          "elapsed_s": train_seconds + time.perf_counter() - started}
                if is_eval:
                    train_seconds += time.perf_counter() - started
                    scores, _ = evaluate(model, val_sets, train.eval_batch_size, step_once.autocast)
                    history += [HistoryPoint(step, d, *score) for d, score in scores.items()]
                    values["val_accuracy"] = {str(d): score.accuracy for d, score in scores.items()}
                    bar.set_postfix(loss=f"{loss:.3f}")
                    if not progress:
                        summary = " ".join(f"{d}:{score.accuracy:.2f}" for d, score in scores.items())
                        log.info(f"[{label}] step {step}/{train.steps} loss {loss:.4f} val {summary}")
                    started = time.perf_counter()
                metrics.write(**values)
                if logger is not None:
                    logger.log(values)
                reason = stop_reason(history, plan, train, task.chance_accuracy) or "cap" if is_eval else reason
                if reason != "cap" or step == train.steps:
                    break
            if signals.pending or (train.checkpoint_every and step % train.checkpoint_every == 0):
                train_seconds += time.perf_counter() - started
                runtime.save_checkpoint(run_dir, runtime.snapshot(tag, step, model, step_once, history,
                                                                  train_seconds, resumed))
                started = time.perf_counter()
                if signals.pending:
                    signals.hand_over()  # submitit requeues the job; the next attempt resumes here
    finally:
        signals.restore()
        metrics.close()
        bar.close()
    final_val = {p.distance: p for p in history if p.step == step}
    test, incidental = evaluate(model, test_sets, train.eval_batch_size, step_once.autocast)
    trained, heldout = set(plan.train), set(plan.heldout)
    return {"steps": step, "stop_reason": reason, "history": history, "train_time_s": train_seconds,
            "resumed_from": resumed,
            "tokens_per_s": step * train.batch_size * task.seq_len / max(train_seconds, 1e-9),  # both span resumes
            "accuracy_by_distance": [DistanceScore(d, s.accuracy, s.n, d in trained, d in heldout,
                                                   final_val[d].accuracy, final_val[d].n)
                                     for d, s in test.items()],
            "incidental_accuracy_by_distance": [{"distance": d, "accuracy": a, "n": n}
                                                for d, (a, n) in sorted(incidental.items())]}
