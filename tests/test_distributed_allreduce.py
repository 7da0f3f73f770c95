"""The ring all-reduce and the data-parallel gradient hook, run with threads as ranks (no Ray needed)."""
import threading

import numpy as np
import pytest

from cnnkit.data.loader import DataLoader
from cnnkit.distributed.allreduce import Inbox, Ring
from cnnkit.distributed.replica import GradientAllReduce, ShardedLoader, check_batches, share_bounds
from cnnkit.models import get_model


def ring_of_threads(world, work):
    """Run ``work(ring)`` on ``world`` threads wired in a ring; their results by rank."""
    inboxes = [Inbox() for _ in range(world)]
    rings = [Ring(rank, world, inboxes[(rank + 1) % world].put, inboxes[rank]) for rank in range(world)]
    results = [None] * world

    def run(rank):
        results[rank] = work(rings[rank])

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_ring_allreduce_gives_every_rank_the_same_sum(world):
    vectors = [np.random.default_rng(rank).standard_normal(103).astype(np.float32) for rank in range(world)]
    results = ring_of_threads(world, lambda ring: ring.allreduce(vectors[ring.rank].copy()))
    np.testing.assert_allclose(results[0], np.sum(vectors, axis=0), rtol=1e-5, atol=1e-6)
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


def test_ring_allreduce_works_in_place():
    vectors = [np.full(10, rank + 1.0) for rank in range(3)]
    results = ring_of_threads(3, lambda ring: ring.allreduce(vectors[ring.rank]))
    assert all(result is vector and (vector == 6).all() for result, vector in zip(results, vectors))


def test_ring_allreduce_handles_vectors_shorter_than_the_ring():
    results = ring_of_threads(4, lambda ring: ring.allreduce(np.array([ring.rank + 1.0, 10.0])))
    assert all(r.tolist() == [10.0, 40.0] for r in results)


def test_shares_are_contiguous_cover_the_batch_and_differ_by_at_most_one():
    for n, world in ((10, 3), (7, 7), (64, 2)):
        bounds = [share_bounds(n, rank, world) for rank in range(world)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        sizes = [stop - start for start, stop in bounds]
        assert max(sizes) - min(sizes) <= 1


def test_a_sharded_loader_keeps_the_loaders_generators_and_yields_its_share():
    arrays = (np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1), np.arange(10))
    plain = DataLoader(arrays, batch_size=4, shuffle=True, seed=3)
    shards = [ShardedLoader(DataLoader(arrays, batch_size=4, shuffle=True, seed=3), rank, 2) for rank in range(2)]
    for batch, *parts in zip(plain, *shards):
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), batch[1])
    assert shards[0].rng.bit_generator.state == plain.rng.bit_generator.state
    assert shards[1].share == (1, 2) and shards[0].samples == 5


def test_a_last_batch_smaller_than_the_number_of_workers_is_refused_before_training():
    loader = DataLoader((np.zeros((9, 2, 2, 1)), np.zeros(9)), batch_size=4)
    with pytest.raises(ValueError, match="batch of 1 samples.*2 workers"):
        check_batches(loader, 2)
    check_batches(DataLoader((np.zeros((9, 2, 2, 1)), np.zeros(9)), batch_size=4, drop_last=True), 2)


def test_the_gradient_hook_gives_every_replica_the_global_mean_gradient_and_the_same_batchnorm_statistics():
    rng = np.random.default_rng(0)
    models = [get_model("resnet_small", num_classes=3, widths=(4, 8), rng=0) for _ in range(2)]
    loaders = [ShardedLoader(DataLoader((np.zeros((6, 2, 2, 1)),), batch_size=6), rank, 2) for rank in range(2)]
    for loader, share in zip(loaders, [(2, 6), (4, 6)]):
        loader.share = share
    params = [list(m.parameters()) for m in models]
    for rank, model in enumerate(models):
        for p in params[rank]:
            p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
        for name, buffer in model.named_buffers():
            if "running" in name:
                buffer[...] = rank + 1.0
    expected = [(a.grad * 2 + b.grad * 4) / 6 for a, b in zip(*params)]
    ring_of_threads(2, lambda ring: GradientAllReduce(ring, models[ring.rank], loaders[ring.rank])(params[ring.rank]))
    for rank in range(2):
        for p, e in zip(params[rank], expected):
            np.testing.assert_allclose(p.grad, e, rtol=1e-5, atol=1e-6)
        assert all(np.all(b == 1.5) for name, b in models[rank].named_buffers() if "running" in name)
