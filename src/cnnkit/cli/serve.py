"""``cnnkit serve``: the browser playground (convolutions, models, tasks, training) on a local web server."""
import ipaddress
import warnings

from cnnkit.cli._args import at_least


def register(subparsers):
    """Add the serve subcommand."""
    p = subparsers.add_parser("serve", help="the browser playground: convolutions, models, faces, style, training")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this machine only; others get a warning)")
    p.add_argument("--port", type=at_least(0), default=8000, help="default 8000 (0: any free port)")
    p.add_argument("--project", default="runs",
                   help="the folder of run folders: checkpoints and training (default runs)")
    p.add_argument("--face-db", default=None, help="the face database for identify (default PROJECT/faces)")
    p.add_argument("--max-upload-mb", type=at_least(1), default=8, help="the largest upload in MiB (default 8)")
    p.set_defaults(func=run)


def _loopback(host):
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args):
    """Start uvicorn with the playground until Ctrl-C."""
    try:
        import uvicorn

        from cnnkit.serve import create_app
    except ImportError as exc:
        raise ValueError(f"cnnkit serve needs the serve extra: pip install 'cnnkit[serve]' ({exc})") from None
    if not _loopback(args.host):
        warnings.warn(f"--host {args.host} makes the playground reachable from other machines; it has no "
                      f"authentication and runs long jobs for anyone who can reach it")
    app = create_app(args.project, args.face_db, max_upload_bytes=args.max_upload_mb * 2**20)
    print(f"cnnkit playground on http://{args.host}:{args.port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
