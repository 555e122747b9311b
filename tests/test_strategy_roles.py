"""Which process of a cluster is the chief (writes checkpoints, logs, run.json) and its index,
from fake cluster resolvers: the TF_CONFIG layouts TensorFlow documents (workers only, where
worker 0 is the chief; or a separate "chief" task), and no cluster at all."""
import types

import pytest

from trainers.strategy import is_chief, num_workers, worker_index


class FakeResolver:
    def __init__(self, cluster, task_type, task_id):
        self._cluster, self.task_type, self.task_id = cluster, task_type, task_id

    def cluster_spec(self):
        return types.SimpleNamespace(as_dict=lambda: self._cluster)


def _strategy(cluster=None, task_type=None, task_id=None):
    resolver = None if cluster is None else FakeResolver(cluster, task_type, task_id)
    return types.SimpleNamespace(cluster_resolver=resolver)


WORKERS = {"worker": ["a:1", "b:1", "c:1"]}
WITH_CHIEF = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}


@pytest.mark.parametrize("cluster, task_type, task_id, chief, index", [
    (WORKERS, "worker", 0, True, 0),
    (WORKERS, "worker", 1, False, 1),
    (WORKERS, "worker", 2, False, 2),
    (WITH_CHIEF, "chief", 0, True, 0),
    (WITH_CHIEF, "worker", 0, False, 1),
    (WITH_CHIEF, "worker", 1, False, 2),
])
def test_one_chief_per_cluster_and_worker_indices(cluster, task_type, task_id, chief, index):
    strategy = _strategy(cluster, task_type, task_id)
    assert is_chief(strategy) is chief
    assert worker_index(strategy) == index
    assert num_workers(strategy) == 3


def test_without_a_cluster_the_process_is_the_chief():
    for strategy in (_strategy(), types.SimpleNamespace()):
        assert is_chief(strategy) and worker_index(strategy) == 0 and num_workers(strategy) == 1
