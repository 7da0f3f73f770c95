"""The run folder of a training command: created before training, or reopened by ``--resume`` with its arguments."""
import os


def open_run(args, task, keys, default_epochs, default_name, command):
    """Create ``args``' run folder, or reopen the one ``--resume`` names and restore ``args`` from its args.json.

    Parameters
    ----------
    args : argparse.Namespace
        With ``resume``, ``epochs`` (None when not given), ``out``, ``project`` and ``name``.
    task : str
        The folder under ``--project``: ``classify``, ``detect``...
    keys : sequence of str
        The arguments args.json keeps; a resumed run takes them back (``--epochs`` may raise ``epochs``).
    default_epochs : int
        For a new run without ``--epochs``.
    default_name : str
        For a new run without ``--name``; numbered (``name2``...) when taken.
    command : str
        How the error messages name the command, e.g. ``"cnnkit detect train"``.

    Returns
    -------
    cnnkit.train.RunFolder
    """
    from cnnkit.train import RunFolder

    if args.resume:
        if not os.path.isdir(args.resume):
            raise ValueError(f"--resume: {args.resume} is not a run folder")
        run = RunFolder(args.resume)
        saved = run.read_args()
        missing = [key for key in keys if key not in saved]
        if missing:
            raise ValueError(f"--resume: {os.path.join(args.resume, 'args.json')} lacks {missing}; it was not "
                             f"written by {command}")
        epochs = saved["epochs"] if args.epochs is None else args.epochs
        vars(args).update({key: saved[key] for key in keys}, epochs=epochs)
        return run
    if args.epochs is None:
        args.epochs = default_epochs
    if args.out:
        return RunFolder(args.out)
    return RunFolder.create(task, args.name or default_name, root=args.project)
