"""Packs for sweeps: which trials train together, how much memory a pack needs, and the task.

``plan_packs`` groups a sweep's trials by ``packed.pack_key`` and splits each group so that no
pack is over ``max_pack`` trials or over the memory budget that ``estimate_pack_bytes`` says
it needs. ``train_pack`` is what one Ray task runs: the trials of a pack, trained together and
then scored together (``packed_eval``), each returned as the same plain-data result that
``trial.train_trial`` returns for one.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from seqrev.models.seq2seq import ModelConfig
from seqrev.sweeps.packed_training import PackedTrainer, pack_key
from seqrev.tasks.vocab import VOCAB_SIZE
from seqrev.training.trainer import TrainConfig

MAX_PACK = 32  # trials per pack at most, by default
BYTES_PER_FLOAT = 4
SAFETY = 1.5  # allocator slack and temporaries the count below leaves out
MEMORY_SHARE = 0.5  # of the machine's available memory, for one pack
MIX_LENGTHS_BELOW = 64  # hidden sizes under this pack trials of different lengths together
FALLBACK_BUDGET = 2 * 1024**3  # where /proc/meminfo cannot be read
HEARTBEAT_SECONDS = 1.0  # between a trial's reports to the sweep's coordinator

Configs = tuple[ModelConfig, TrainConfig]


def parameter_count(model: ModelConfig) -> int:
    """Parameters of one Seq2Seq of ``model``'s config."""
    hidden, embedding, gates = model.hidden_dim, model.embedding_dim, 3 * model.hidden_dim
    directions = 2 if model.bidirectional else 1
    memory = directions * hidden  # one encoder state
    count = VOCAB_SIZE * embedding  # letter table
    count += directions * gates * (embedding + hidden + 2)  # encoder GRU, each direction
    count += (memory * hidden + hidden) if model.bidirectional else 0  # bridge to h0
    count += gates * (embedding + hidden + 2)  # decoder GRU (embedding part)
    count += hidden * VOCAB_SIZE + VOCAB_SIZE  # output layer
    if model.kind == "attention":
        count += gates * memory  # decoder's context weights
        count += memory * hidden if model.score == "bilinear" else 0
    return count


def estimate_trial_bytes(model: ModelConfig, train: TrainConfig, longest: int | None = None) -> int:
    """Bytes one trial of a pack holds during a step, its batches padded to ``longest`` letters.

    Counts the parameters with their gradient, Adam's two moments and an update temporary, and
    per string the recurrences' kept gates and states (forward and backward buffers, about
    19 H per step each way), attention's weights, keys and contexts, and the logits with their
    softmax and gradients; times SAFETY.
    """
    source = longest or train.max_len
    target = source + 1
    hidden = model.hidden_dim
    per_string = 19 * hidden * (source + target)
    if model.kind == "attention":
        per_string += 2 * source * target + 4 * hidden * source + 3 * hidden * target
    per_string += 4 * VOCAB_SIZE * target
    floats = 5 * parameter_count(model) + train.batch_size * per_string
    return int(SAFETY * BYTES_PER_FLOAT * floats)


def estimate_pack_bytes(configs: Sequence[Configs]) -> int:
    """Bytes a pack of ``configs`` needs during a step: every trial padded to the longest."""
    longest = max(train.max_len for _, train in configs)
    return sum(estimate_trial_bytes(model, train, longest) for model, train in configs)


def memory_budget() -> int:
    """Bytes one pack may use here: MEMORY_SHARE of the memory the kernel reports available."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(MEMORY_SHARE * int(line.split()[1]) * 1024)
    except OSError:
        pass
    return FALLBACK_BUDGET


def plan_packs(configs: Sequence[Configs], *, max_pack: int = MAX_PACK,
               budget: int | None = None) -> list[list[int]]:
    """Indices of ``configs`` grouped into packs, in order of each pack's first trial.

    Trials share a pack only with equal ``pack_key`` and, at hidden sizes of MIX_LENGTHS_BELOW
    or more (where arithmetic, not call overhead, sets a step's time, so padding costs), equal
    lengths. A group is cut, longest lengths first, wherever one more trial would pass
    ``max_pack`` or ``budget`` bytes (default: ``memory_budget()``). A trial over the budget
    on its own, or with no key (``packed_training.alone_reason`` says why), trains alone.
    """
    budget = memory_budget() if budget is None else budget
    groups: dict[Any, list[int]] = {}
    for index, (model, train) in enumerate(configs):
        key = pack_key(model, train)
        if key is not None and model.hidden_dim >= MIX_LENGTHS_BELOW:
            key = (*key, train.min_len, train.max_len)
        groups.setdefault(key if key is not None else ("alone", index), []).append(index)
    packs: list[list[int]] = []
    for members in groups.values():
        members = sorted(members, key=lambda i: -configs[i][1].max_len)
        current: list[int] = []
        for index in members:
            candidate = current + [index]
            fits = estimate_pack_bytes([configs[i] for i in candidate]) <= budget
            if current and (len(candidate) > max_pack or not fits):
                packs.append(current)
                candidate = [index]
            current = candidate
        packs.append(current)
    return sorted(packs, key=min)


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error))


def train_pack(payloads: Sequence[dict], ask: Callable[[str, int, float], bool] | None = None,
               budget: int | None = None) -> list[dict]:
    """Train the trials of ``payloads`` (``sweeps.trial_payload`` dicts) as packs; one result each.

    The pack is planned again against this machine's memory (sub-packs run one after another),
    and a sub-pack that still runs out of memory is halved and run again from its start. ``ask``
    is the coordinator's heartbeat, called about once a second per trial; True stops it.
    """
    import torch

    torch.set_num_threads(payloads[0].get("threads", 1))
    configs = [(ModelConfig(**p["model_config"]), TrainConfig(**p["train_config"]))
               for p in payloads]
    results: list[dict | None] = [None] * len(payloads)
    queue = [[payloads[i] for i in pack]
             for pack in plan_packs(configs, max_pack=len(payloads), budget=budget)]
    while queue:
        pack = queue.pop(0)
        try:
            done = _train_one_pack(pack, ask)
        except (MemoryError, RuntimeError) as error:
            if not _is_out_of_memory(error) or len(pack) == 1:
                raise
            half = len(pack) // 2
            queue[:0] = [pack[:half], pack[half:]]
            continue
        for result in done:
            results[next(i for i, p in enumerate(payloads) if p["run_id"] == result["run_id"])] = (
                result)
    return results  # type: ignore[return-value]


def _train_one_pack(payloads: Sequence[dict], ask) -> list[dict]:
    import seqrev.sweeps.packed_eval as packed_eval

    configs = [(ModelConfig(**p["model_config"]), TrainConfig(**p["train_config"]))
               for p in payloads]
    started = time.perf_counter()
    trainer = PackedTrainer(configs)
    records = [{"run_id": p["run_id"], "steps": [], "evals": [], "reached_target_at": None,
                "lengths": None, "error": None} for p in payloads]
    last_beat = [time.monotonic()] * len(payloads)

    def on_step(index: int, event) -> None:
        records[index]["steps"].append(event)
        now = time.monotonic()
        if ask is not None and now - last_beat[index] >= HEARTBEAT_SECONDS:
            last_beat[index] = now
            if ask(payloads[index]["run_id"], event.step, event.elapsed):
                trainer.leave(index, "stopped")

    def on_eval(index: int, event) -> None:
        record = records[index]
        record["evals"].append(event)
        target = payloads[index].get("target")
        if target is not None and event.exact_match >= target and record["reached_target_at"] \
                is None:
            record["reached_target_at"] = event.step
            trainer.leave(index, "finished")

    def on_leave(index: int, status: str) -> None:
        trial, record = trainer.trials[index], records[index]
        record.update(status=status, error=trial.error, steps_done=trial.trainer.step,
                      train_seconds=trial.trainer.elapsed,
                      wall_seconds=time.perf_counter() - started,
                      host=socket.gethostname(), pid=os.getpid(),
                      pack_size=len(payloads))

    trainer.add_callback("step", on_step)
    trainer.add_callback("eval", on_eval)
    trainer.add_callback("leave", on_leave)
    trainer.run()
    finished = [i for i, record in enumerate(records) if record["status"] == "finished"]
    if finished:  # the final evaluation, every finished trial decoded at once
        scored = packed_eval.evaluate_lengths_packed(
            [trainer.trials[i].trainer.model for i in finished],
            [configs[i][1].max_len for i in finished], payloads[0].get("eval_per_length", 200))
        for index, lengths in zip(finished, scored, strict=True):
            records[index].update(lengths=lengths, wall_seconds=time.perf_counter() - started)
    return records
