"""Train: the plain and the attention model, alone or racing live, then saved as checkpoints."""

from __future__ import annotations

import streamlit as st

from pages.common import ATTENTION_KEY, PLAIN_KEY, require_router
from seqrev import checkpoints
from seqrev.attention_scores import SCORE_FUNCTIONS
from seqrev.charts.training import accuracy_figure, loss_figure, speed_figure
from seqrev.devices import DEVICE_CHOICES, resolve_device
from seqrev.jobs import TrainingJob, format_duration, make_configs, train_command
from seqrev.models import ModelConfig
from seqrev.training import PRESETS, TrainConfig, preset
from seqrev.vocab import MAX_INPUT_LEN

require_router("pages/train.py")

JOB_KEY = "train_job"  # the session's TrainingJob: it outlives page switches
SAVED_KEY = "train_saved"  # checkpoint names saved this session, newest last
NOTE_KEY = "train_save_note"  # ("success" | "error", text) from the last save
HEADER_COLORS = {"plain": "blue", "attention": "orange"}  # Streamlit's nearest to MODEL_COLORS
TORCH_THREADS = 1  # the server keeps the other core; see app.py
CHOICES = {"both": "Both: a fair race", "plain": "Plain", "attention": "Attention"}
LEARNING_RATES = sorted({1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2}
                        | {tc.learning_rate for _, tc in PRESETS.values()})
BATCH_SIZES = sorted({8, 16, 32, 64, 128, 256, 512} | {tc.batch_size for _, tc in PRESETS.values()})


def preset_state(model_config: ModelConfig, train_config: TrainConfig) -> dict:
    """The settings widgets' values for a pair of configs."""
    return {
        "train_embedding": model_config.embedding_dim, "train_hidden": model_config.hidden_dim,
        "train_score": model_config.score, "train_lr": train_config.learning_rate,
        "train_schedule": train_config.lr_schedule, "train_batch": train_config.batch_size,
        "train_steps": train_config.steps, "train_min_len": train_config.min_len,
        "train_max_len": train_config.max_len, "train_tf": train_config.teacher_forcing,
        "train_clip": float(train_config.grad_clip or 0.0), "train_seed": train_config.seed,
        "train_eval_every": train_config.eval_every, "train_device": train_config.device,
    }


def load_preset(name: str) -> None:
    st.session_state.update(preset_state(*preset(name)))


def save(kind: str, name: str, overwrite: bool) -> None:
    """Button callback: evaluate and save one trained model, then pick it in the sidebar.

    It runs before the next script run, so the sidebar's picker can still be set.
    """
    job: TrainingJob | None = st.session_state.get(JOB_KEY)
    if job is None or kind not in job.trainers or job.status == "running":
        st.session_state[NOTE_KEY] = ("error", "Stop training before saving.")
        return
    trainer = job.trainers[kind]
    try:
        with st.spinner(f"Measuring {kind} on held-out strings and saving it as {name}..."):
            record = checkpoints.training_record(
                trainer, command=train_command(trainer.model_config, trainer.config, name))
            checkpoints.save_checkpoint(name, trainer.model, trainer.config, record,
                                        overwrite=overwrite)
    except (OSError, ValueError, checkpoints.CheckpointError) as error:
        st.session_state[NOTE_KEY] = ("error", f"Could not save {name!r}: {error}")
        return
    st.session_state[PLAIN_KEY if kind == "plain" else ATTENTION_KEY] = name
    saved = st.session_state.setdefault(SAVED_KEY, [])
    if name not in saved:
        saved.append(name)
    exact = record["evaluation"]["length_10"]["exact_match"]
    st.session_state[NOTE_KEY] = (
        "success", f"Saved {kind} model as **{name}** (exact match on 1000 length-10 strings: "
                   f"{exact:.1%}). It is now selected in the sidebar for the other pages.")


def settings() -> tuple[list[str], dict] | None:
    """The settings widgets; the chosen kinds and make_configs' arguments, or None if invalid."""
    for key, value in preset_state(*preset("default")).items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault("train_models", "both")
    choice = st.segmented_control(
        "Model", list(CHOICES), format_func=CHOICES.get, key="train_models", required=True,
        persist_state="session",
        help="A race trains both models in one thread, one step each in turn, on identical "
             "batches from the same seed.")
    kinds = ["plain", "attention"] if choice == "both" else [choice]
    model_col, data_col, optim_col = st.columns(3)
    with model_col:
        st.markdown("**Model**")
        embedding = st.slider("Embedding size", 2, 256, step=2, key="train_embedding",
                              persist_state="session")
        hidden = st.slider("Hidden size (GRU)", 8, 512, step=4, key="train_hidden",
                           persist_state="session")
        score = st.selectbox("Attention score function", SCORE_FUNCTIONS, key="train_score",
                             disabled="attention" not in kinds, persist_state="session",
                             help="bilinear is the lab's (W h_i)·q.")
    with data_col:
        st.markdown("**Data**")
        min_len = st.number_input("Shortest training string", 1, MAX_INPUT_LEN,
                                  key="train_min_len", persist_state="session")
        max_len = st.number_input("Longest training string", 1, MAX_INPUT_LEN,
                                  key="train_max_len", persist_state="session")
        batch = st.select_slider("Batch size", BATCH_SIZES, key="train_batch",
                                 persist_state="session")
        steps = st.number_input("Steps", 1, 100_000, step=100, key="train_steps",
                                persist_state="session")
    with optim_col:
        st.markdown("**Optimisation**")
        learning_rate = st.select_slider("Learning rate (Adam)", LEARNING_RATES, key="train_lr",
                                         format_func=lambda v: f"{v:g}", persist_state="session")
        schedule = st.selectbox("Learning-rate schedule", ("constant", "cosine"),
                                key="train_schedule", persist_state="session",
                                help="cosine decays to 10% of the rate by the last step.")
        teacher = st.slider("Teacher forcing", 0.0, 1.0, step=0.05, key="train_tf",
                            persist_state="session",
                            help="Chance of feeding the true previous letter to the decoder "
                                 "instead of its own guess.")
        clip = st.number_input("Gradient clipping (0 = off)", 0.0, 100.0, step=0.5,
                               key="train_clip", persist_state="session")
    seed_col, device_col, eval_col = st.columns(3)
    seed = seed_col.number_input("Random seed", 0, 2**31 - 1, key="train_seed",
                                 persist_state="session")
    device = device_col.selectbox("Device", DEVICE_CHOICES, key="train_device",
                                  persist_state="session")
    eval_every = eval_col.number_input("Evaluate every (steps, 0 = never)", 0, 100_000,
                                       step=50, key="train_eval_every", persist_state="session")
    try:
        resolve_device(device)
    except ValueError as error:
        st.error(f"{error}. Choose cpu or auto.")
        return None
    if min_len > max_len:
        st.error(f"The shortest training string ({min_len}) is longer than the longest "
                 f"({max_len}).")
        return None
    arguments = {
        "embedding_dim": embedding, "hidden_dim": hidden, "score": score,
        "steps": int(steps), "batch_size": batch, "learning_rate": learning_rate,
        "lr_schedule": schedule, "min_len": int(min_len), "max_len": int(max_len),
        "teacher_forcing": float(teacher), "grad_clip": float(clip), "seed": int(seed),
        "eval_every": int(eval_every), "device": device,
    }
    try:
        make_configs(kinds, **arguments)
    except ValueError as error:
        st.error(f"These settings cannot train: {error}.")
        return None
    return kinds, arguments


def live(job: TrainingJob, was_running: bool) -> None:
    """Progress, latest numbers and charts; polled by a fragment while training runs."""
    status = job.status
    if was_running and status != "running":
        st.rerun()
    progress = job.progress()
    step = min(progress.per_model.values())
    each = " (each model)" if job.racing else ""
    eta = f" · about {format_duration(progress.eta)} left" if status == "running" else ""
    st.progress(progress.fraction,
                text=f"{status.capitalize()}: step {step} of {job.train_config.steps}{each} · "
                     f"{format_duration(progress.elapsed)} elapsed{eta}")
    if status == "error":
        st.error(f"Training stopped with an error: {job.error}")
    latest = job.latest()
    for column, (kind, numbers) in zip(st.columns(len(latest)), latest.items(), strict=True):
        loss, exact, speed = (numbers["smoothed_loss"], numbers["exact_match"],
                              numbers["steps_per_second"])
        with column:
            st.markdown(f":{HEADER_COLORS.get(kind, 'gray')}[**{kind.capitalize()}**]")
            a, b, c = st.columns(3)
            a.metric("Loss (smoothed)", "–" if loss is None else f"{loss:.3f}")
            b.metric("Exact match", "–" if exact is None else f"{exact:.1%}",
                     help="Strings reversed perfectly, of the fixed held-out set.")
            c.metric("Steps/s", "–" if speed is None else f"{speed:.1f}")
    views = job.views()
    loss_col, accuracy_col, speed_col = st.columns(3)
    steps = job.train_config.steps
    loss_col.plotly_chart(loss_figure(views, steps), width="stretch", key="train_loss_chart")
    accuracy_col.plotly_chart(accuracy_figure(views, steps), width="stretch",
                              key="train_accuracy_chart")
    speed_col.plotly_chart(speed_figure(views, steps), width="stretch", key="train_speed_chart")


def save_panel(job: TrainingJob) -> None:
    """Name, overwrite check and Save button for each trained model."""
    st.subheader("Save as a checkpoint")
    st.caption("Saving measures the model on fresh strings of every length (a few seconds), "
               "then lists it in the sidebar's model pickers on every page.")
    for column, kind in zip(st.columns(len(job.kinds)), job.kinds, strict=True):
        with column:
            raw = st.text_input(f"Name for the {kind} model", value=f"my-{kind}",
                                key=f"train_name_{kind}", max_chars=64)
            try:
                name = checkpoints.sanitize_name(raw)
            except ValueError as error:
                st.error(str(error))
                continue
            if name != raw.strip():
                st.caption(f"Will be saved as `{name}`.")
            overwrite = False
            if checkpoints.exists(name):
                shipped = name in (checkpoints.SHIPPED_PLAIN, checkpoints.SHIPPED_ATTENTION)
                if name in st.session_state.get(SAVED_KEY, []):
                    st.info(f"`{name}` was saved in this session; replace it to save again.")
                else:
                    st.warning(f"A checkpoint called `{name}` exists"
                               + (" (a shipped model)" if shipped else "") + ".")
                overwrite = st.checkbox(f"Replace `{name}`", key=f"train_overwrite_{kind}")
            st.button(f"Save {kind}", key=f"train_save_{kind}", on_click=save,
                      args=(kind, name, overwrite),
                      disabled=checkpoints.exists(name) and not overwrite)


def downloads(job: TrainingJob) -> None:
    """Metrics CSV of this run, and the files of the checkpoints saved this session."""
    st.download_button("Metrics (CSV)", data=lambda: job.metrics_frame().to_csv(index=False),
                       file_name="seqrev-training-metrics.csv", mime="text/csv",
                       on_click="ignore", icon=":material/download:", key="train_csv")
    for name in st.session_state.get(SAVED_KEY, []):
        weights = checkpoints.CHECKPOINT_DIR / f"{name}.safetensors"
        sidecar = checkpoints.CHECKPOINT_DIR / f"{name}.json"
        if not (weights.is_file() and sidecar.is_file()):
            continue
        left, right = st.columns(2)
        left.download_button(f"{name}.safetensors", data=weights.read_bytes,
                             file_name=weights.name, mime="application/octet-stream",
                             on_click="ignore", icon=":material/download:",
                             key=f"train_weights_{name}")
        right.download_button(f"{name}.json", data=sidecar.read_bytes, file_name=sidecar.name,
                              mime="application/json", on_click="ignore",
                              icon=":material/download:", key=f"train_sidecar_{name}")


st.title("Train")
st.markdown(
    "Each step draws a fresh batch of random strings and nudges the weights to lower the "
    "**loss**: how surprised the decoder is by the next correct letter, fed the true previous "
    "one (teacher forcing). Every few steps each model reverses a fixed set of 500 held-out "
    "strings on its own: **exact match** counts the strings it gets entirely right, "
    "**characters** the letters in the right place. In a race both models see the very same "
    "batches, taking one step each in turn; **steps/s** counts each model's own compute. "
    "Training keeps going while you visit other pages."
)

job: TrainingJob | None = st.session_state.get(JOB_KEY)
running = job is not None and job.status == "running"

with st.expander("Settings", expanded=job is None):
    presets = st.container(horizontal=True)
    presets.button("Lab settings", on_click=load_preset, args=("seed",), key="train_lab",
                   help="The course lab: embedding 64, hidden 100, batch 64, length 10, "
                        "Adam 1e-3 constant, no clipping, 5000 steps.")
    presets.button("App defaults", on_click=load_preset, args=("default",),
                       key="train_defaults")
    chosen = settings()
    if running:
        st.caption("New settings apply to the next Start.")

buttons = st.container(horizontal=True)
if buttons.button("Start", type="primary", key="train_start",
                    disabled=running or chosen is None, icon=":material/play_arrow:"):
    kinds, arguments = chosen
    try:
        new_job = TrainingJob(*make_configs(kinds, **arguments), torch_threads=TORCH_THREADS)
    except ValueError as error:
        st.error(f"Cannot start: {error}.")
    else:
        st.session_state[JOB_KEY] = new_job
        st.session_state.pop(NOTE_KEY, None)
        new_job.start()
        st.rerun()
if buttons.button("Stop", key="train_stop", disabled=not running, icon=":material/stop:"):
    job.stop()
    st.rerun()
if buttons.button("Resume", key="train_resume", icon=":material/resume:",
                     disabled=job is None or job.status != "stopped"):
    job.resume()
    st.rerun()

if job is None:
    st.info("Choose settings and press **Start**.")
else:
    st.fragment(run_every=0.5 if running else None)(live)(job, running)
    if job.status in ("stopped", "finished"):
        save_panel(job)
    note = st.session_state.get(NOTE_KEY)
    if note:
        (st.success if note[0] == "success" else st.error)(note[1])
    downloads(job)
    with st.expander("The same training from the command line"):
        for trainer in job.trainers.values():
            st.code(train_command(trainer.model_config, trainer.config,
                                  f"my-{trainer.model_config.kind}"), language="bash")
