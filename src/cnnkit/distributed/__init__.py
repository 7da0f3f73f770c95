"""More than one machine, on Ray: batch inference over folders and data-parallel training.

``import cnnkit.distributed`` needs neither Ray nor pyarrow; what runs on
Ray imports it when called (``pip install 'cnnkit[ray]'``).
"""
from cnnkit.distributed.training import WorkerFailed, fit

__all__ = ["fit", "WorkerFailed"]
