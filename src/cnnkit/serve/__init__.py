"""``cnnkit serve``: a browser playground on cnnkit's engine, models and applications (needs the ``serve`` extra).

``create_app(project="runs")`` returns the Starlette app; ``cnnkit serve`` runs it with uvicorn.
"""
from cnnkit.serve.app import create_app

__all__ = ["create_app"]
