"""The training dashboard's API: ``cnnkit train`` in a child process, its run folder read for live curves.

Training runs as a separate process (the command line's own ``cnnkit train``
into a run folder under the project), so it has its own interpreter and can
be stopped the way the command line is: SIGINT makes ``fit`` finish the
batch, save the last epoch and exit; ``--resume`` continues it.
"""
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import cnnkit
from cnnkit.serve.catalogue import checkpoints

MODELS = ("lenet5", "resnet_small")
DATA = ("digits",)
MAX_EPOCHS = 200
POLL_SECONDS = 0.5


def _results(folder):
    """The rows of a run's results.csv as a dict of columns (floats; None for an empty cell)."""
    path = os.path.join(folder, "results.csv")
    columns = {}
    if not os.path.isfile(path):
        return columns
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                columns.setdefault(key, []).append(float(value) if value not in ("", None) else None)
    return columns


def _folders(project):
    """``{run id: folder}`` of every classification run folder under the project, with or without weights yet."""
    root = os.path.join(project, "classify")
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    return {f"classify/{name}": os.path.join(root, name) for name in names
            if os.path.isfile(os.path.join(root, name, "args.json"))}


def runs(project):
    """Every classification run: its id, arguments, curves (per-epoch columns) and whether it has a curves plot."""
    listing = []
    weights = checkpoints(project, "classify")
    for run_id, folder in _folders(project).items():
        with open(os.path.join(folder, "args.json"), encoding="utf-8") as f:
            args = json.load(f)
        listing.append({"id": run_id, "args": {k: args.get(k) for k in ("model", "data", "epochs", "lr")},
                        "curves": _results(folder), "plot": os.path.isfile(os.path.join(folder, "curves.png")),
                        "weights": run_id in weights, "modified": os.path.getmtime(folder)})
    return sorted(listing, key=lambda r: -r["modified"])


def plot_path(project, run_id):
    """The curves.png of a run, looked up by id."""
    folders = _folders(project)
    if run_id not in folders or not os.path.isfile(os.path.join(folders[run_id], "curves.png")):
        raise KeyError(f"no plot for run {run_id!r}")
    return os.path.join(folders[run_id], "curves.png")


def _choice(body, name, choices, default):
    """A value of the form that must be one of ``choices``."""
    value = body.get(name) or default
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _epochs(body):
    """The number of epochs, 1..MAX_EPOCHS."""
    try:
        epochs = int(body.get("epochs", 5))
    except (TypeError, ValueError):
        raise ValueError(f"epochs must be an integer, got {body.get('epochs')!r}") from None
    if not 1 <= epochs <= MAX_EPOCHS:
        raise ValueError(f"epochs must be between 1 and {MAX_EPOCHS}, got {epochs}")
    return epochs


def _limit(body):
    """The number of training (and test) images to use, >= 10."""
    try:
        limit = int(body["limit"])
    except (TypeError, ValueError):
        raise ValueError(f"limit must be an integer, got {body['limit']!r}") from None
    if limit < 10:
        raise ValueError(f"limit must be at least 10 images, got {limit}")
    return limit


def start_job(project, body):
    """A new run (``body``: model, data, epochs, optional limit) or a resumed one (``body["resume"]``: a run id).

    Returns ``(label, run)`` for the job queue.
    """
    epochs = _epochs(body)
    if body.get("resume"):
        folders = _folders(project)
        if body["resume"] not in folders:
            raise ValueError(f"resume: no run {body['resume']!r}")
        folder = folders[body["resume"]]
        arguments = ["--resume", folder, "--epochs", str(epochs)]
        label = f"resume {body['resume']} to {epochs} epochs"
    else:
        model = _choice(body, "model", MODELS, "lenet5")
        data = _choice(body, "data", DATA, "digits")
        root = os.path.join(project, "classify")
        number = 1
        while os.path.exists(os.path.join(root, f"{model}-{data}-{number}")):
            number += 1
        folder = os.path.join(root, f"{model}-{data}-{number}")
        arguments = ["--model", model, "--data", data, "--epochs", str(epochs), "--out", folder]
        if body.get("limit"):
            arguments += ["--limit", str(_limit(body))]
        label = f"train {model} on {data}, {epochs} epochs"
    run_id = f"classify/{os.path.basename(folder)}"
    return label, lambda job: _train(job, folder, run_id, epochs, arguments)


def _train(job, folder, run_id, epochs, arguments):
    """Run ``cnnkit train`` and follow its results.csv until it ends; SIGINT it when the job is cancelled."""
    env = dict(os.environ)
    source = os.path.dirname(os.path.dirname(os.path.abspath(cnnkit.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([source] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    command = [sys.executable, "-m", "cnnkit.cli", "train", "--quiet", *arguments]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        job.update(0, f"starting {run_id}", {"run": run_id, "curves": {}})
        stopping = False
        while process.poll() is None:
            if job.cancelled and not stopping:
                process.send_signal(signal.SIGINT)  # fit ends the batch, saves the last epoch, exits 130
                stopping = True
            curves = _results(folder)
            done = len(curves.get("epoch", []))
            job.update(done / epochs, f"{'stopping: ' if stopping else ''}epoch {done} of {epochs} done",
                       {"run": run_id, "curves": curves})
            time.sleep(POLL_SECONDS)
        log.seek(0)
        lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    curves = _results(folder)
    # the line worth showing: the test accuracy, or where an interrupted run stopped, or the error
    message = next((line for line in lines if line.startswith("test accuracy")), lines[-1] if lines else "finished")
    # stopped before fit caught the signal (while Python started): nothing new was saved
    early = stopping and process.returncode == -signal.SIGINT
    if early:
        message = "stopped before training started; nothing new was saved"
    job.update(len(curves.get("epoch", [])) / epochs, message, {"run": run_id, "curves": curves})
    if process.returncode not in (0, 130) and not early:
        raise RuntimeError(message if lines else f"cnnkit train exited with status {process.returncode}")
    return {"run": run_id, "curves": curves, "stopped": stopping or process.returncode == 130, "message": message}
