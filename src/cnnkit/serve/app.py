"""The playground's web app: the routes of the four pages, upload limits, the job queue, errors as JSON.

Every failure reaches the browser as ``{"error": "one line"}`` with a 4xx/5xx
status, never a traceback: bad input (ValueError, TypeError, KeyError) is a
400, a body over the upload limit a 413, anything else a 500 whose details go
to the server's log only.
"""
import json
import logging
import os
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cnnkit.serve import catalogue, conv, explorer, tasks, training
from cnnkit.serve.images import (DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES, PIXEL_LIMIT, sample_names,
                                 sample_thumbnail)
from cnnkit.serve.jobs import JobQueue, one_line

log = logging.getLogger(__name__)


class TooLarge(Exception):
    """The request body is over the upload limit."""


class Guard:
    """ASGI middleware: refuse bodies over ``limit`` bytes (Content-Length, then counted) and turn errors into JSON.

    It also sets the pixel limit that :func:`~cnnkit.serve.images.read_picture` applies to this request's uploads.
    """

    def __init__(self, app, limit, max_pixels):
        self.app, self.limit, self.max_pixels = app, limit, max_pixels

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _error(send, 413, self._too_large())
        seen, started = 0, False
        PIXEL_LIMIT.set(self.max_pixels)

        async def counted_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise TooLarge(self._too_large())
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Exception as exc:
            if started:
                raise
            if isinstance(exc, TooLarge):
                status = 413
            elif isinstance(exc, (ValueError, TypeError, KeyError)):
                status = 400
            else:
                log.exception("%s %s failed", scope.get("method"), scope.get("path"))
                status = 500
            await _error(send, status, one_line(exc) if status < 500 else f"internal error: {one_line(exc)}")

    def _too_large(self):
        return f"the upload is larger than the limit of {self.limit / 2**20:.1f} MiB"


async def _error(send, status, message):
    """Send ``{"error": message}`` with ``status``."""
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _http_error(request, exc):
    """Starlette's own errors (404, 405) as JSON too."""
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


def create_app(project="runs", face_db=None, max_upload_bytes=DEFAULT_MAX_UPLOAD_BYTES, max_pixels=DEFAULT_MAX_PIXELS):
    """The playground as an ASGI app.

    Parameters
    ----------
    project : str, default "runs"
        The folder of run folders: checkpoints are listed from it and training writes into it.
    face_db : str, optional
        The face database folder for identify and enrol; default ``<project>/faces``.
    max_upload_bytes : int
        The largest request body accepted.
    max_pixels : int
        The most pixels an uploaded picture may have.

    Returns
    -------
    starlette.applications.Starlette
        ``app.state.jobs`` is its :class:`~cnnkit.serve.jobs.JobQueue`.
    """
    face_db = face_db or os.path.join(project, "faces")
    jobs = JobQueue()

    async def form_of(request):
        return await request.form(max_files=4, max_fields=32)

    async def body_of(request):
        try:
            body = await request.json()
        except ValueError:
            raise ValueError("the request body must be JSON") from None
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body

    def form_route(handler):
        async def endpoint(request):
            return JSONResponse(await handler(await form_of(request)))
        return endpoint

    async def index(request):
        return FileResponse(str(resources.files("cnnkit.serve") / "static" / "index.html"))

    async def meta(request):
        return JSONResponse({"samples": sample_names(), "models": catalogue.listing(project),
                             "kernels": list(conv.PRESETS), "train_models": list(training.MODELS),
                             "train_data": list(training.DATA), "limits": {"upload_bytes": max_upload_bytes,
                                                                           "pixels": max_pixels}})

    async def summary(request):
        return JSONResponse(explorer.summary(project, (await body_of(request)).get("model")))

    async def activations(request):
        return JSONResponse(await explorer.activations(project, await form_of(request)))

    async def patches(request):
        return JSONResponse(explorer.patches(project, await body_of(request)))

    async def classify(request):
        return JSONResponse(await tasks.classify(project, await form_of(request)))

    async def detect(request):
        return JSONResponse(await tasks.detect(project, await form_of(request)))

    async def enroll(request):
        return JSONResponse(await tasks.enroll(face_db, await form_of(request)))

    async def identify(request):
        return JSONResponse(await tasks.identify(face_db, await form_of(request)))

    async def people(request):
        return JSONResponse(tasks.people(face_db))

    async def style(request):
        label, run = await tasks.style_job(await form_of(request))
        return JSONResponse(jobs.describe(jobs.submit("style", label, run)))

    async def train(request):
        label, run = training.start_job(project, await body_of(request))
        return JSONResponse(jobs.describe(jobs.submit("train", label, run)))

    async def runs(request):
        return JSONResponse({"runs": training.runs(project)})

    async def plot(request):
        return FileResponse(training.plot_path(project, request.path_params["run"]), media_type="image/png")

    async def job(request):
        return JSONResponse(jobs.describe(jobs.get(request.path_params["id"])))

    async def cancel(request):
        return JSONResponse(jobs.describe(jobs.cancel(request.path_params["id"])))

    async def job_list(request):
        return JSONResponse({"jobs": jobs.listing(request.query_params.get("kind"))})

    async def sample(request):
        return Response(sample_thumbnail(request.path_params["name"]), media_type="image/png",
                        headers={"cache-control": "max-age=3600"})

    async def favicon(request):
        return Response(status_code=204)

    routes = [
        Route("/", index), Route("/favicon.ico", favicon), Route("/api/meta", meta),
        Route("/api/samples/{name}", sample),
        Route("/api/conv", form_route(conv.explain), methods=["POST"]),
        Route("/api/explorer/summary", summary, methods=["POST"]),
        Route("/api/explorer/activations", activations, methods=["POST"]),
        Route("/api/explorer/patches", patches, methods=["POST"]),
        Route("/api/classify", classify, methods=["POST"]), Route("/api/detect", detect, methods=["POST"]),
        Route("/api/faces/detect", form_route(tasks.faces), methods=["POST"]),
        Route("/api/faces/verify", form_route(tasks.verify), methods=["POST"]),
        Route("/api/faces/enroll", enroll, methods=["POST"]), Route("/api/faces/identify", identify, methods=["POST"]),
        Route("/api/faces/people", people),
        Route("/api/edges", form_route(tasks.edges), methods=["POST"]),
        Route("/api/style", style, methods=["POST"]),
        Route("/api/train", train, methods=["POST"]), Route("/api/train/runs", runs),
        Route("/api/train/plot/{run:path}", plot),
        Route("/api/jobs", job_list), Route("/api/jobs/{id}", job),
        Route("/api/jobs/{id}/cancel", cancel, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("cnnkit.serve", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error},
                    middleware=[Middleware(Guard, limit=max_upload_bytes, max_pixels=max_pixels)])
    app.state.jobs = jobs
    return app
