"""Picking a ``tf.distribute.Strategy`` and the facts the trainer needs about it."""
import json
import os

import tensorflow as tf


def create_strategy(tpu=None, num_gpus=None, cpu_replicas=None):
    """The strategy for this machine/cluster.

    * ``tpu`` (a name or ``"local"``): ``TPUStrategy``;
    * a ``TF_CONFIG`` naming several workers: ``MultiWorkerMirroredStrategy``;
    * ``cpu_replicas`` > 1: the CPU split into that many logical devices under
      ``MirroredStrategy`` (to try the distributed path, or compare with a cluster, on one CPU);
    * several GPUs (or ``num_gpus`` > 1): ``MirroredStrategy``;
    * otherwise the default strategy (one CPU or GPU).
    """
    if tpu:
        return _tpu_strategy(tpu)
    if _num_workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if cpu_replicas and cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        configured = tf.config.get_logical_device_configuration(cpu) or []
        if len(configured) != cpu_replicas:
            try:
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
            except RuntimeError:
                raise ValueError("cpu_replicas must be set before TensorFlow starts its "
                                 "devices (create the strategy first).") from None
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:cpu_replicas]
        return tf.distribute.MirroredStrategy(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if num_gpus is not None:
        if num_gpus > len(gpus):
            raise ValueError(f"num_gpus={num_gpus} but only {len(gpus)} GPU(s) are visible.")
        gpus = gpus[:num_gpus]
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([g.name for g in gpus])
    return tf.distribute.get_strategy()


def _tpu_strategy(tpu):
    """TPUStrategy on ``tpu``; a ValueError saying what to check when there is none."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (tf.errors.OpError, ValueError, RuntimeError) as err:
        reason = str(getattr(err, "message", err)).strip().splitlines()[0]
        raise ValueError(
            f"no TPU found for --tpu={tpu} ({reason}). On a TPU VM use --tpu=local; otherwise "
            f"pass the TPU's name and run where it is reachable, or drop --tpu to train on this "
            f"machine's {'GPUs' if tf.config.list_physical_devices('GPU') else 'CPU'}.") from None
    return tf.distribute.TPUStrategy(resolver)


def _num_workers():
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    cluster = config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def num_workers(strategy):
    """Worker processes of the strategy's cluster (1 without a multi-worker cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return 1
    spec = resolver.cluster_spec().as_dict() or {}
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))


def worker_index(strategy):
    """This process's index among the cluster's workers (0 without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return 0
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    if resolver.task_type == "chief":
        return 0
    return resolver.task_id + (1 if has_chief else 0)


def is_chief(strategy):
    """Whether this process writes checkpoints and logs (worker 0 of a multi-worker cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def device_type(strategy):
    """"TPU", "GPU" or "CPU": the kind of device the replicas run on."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "TPU"
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy: TF places ops on a GPU if there is one
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or ["CPU"]
    return "GPU" if any("GPU" in d.upper() for d in devices) else "CPU"

def default_jit_compile(strategy):
    """XLA on by default on accelerators; off on CPU, where XLA compiles slowly and gains little."""
    return device_type(strategy) in ("GPU", "TPU")


def distribute_training_data(strategy, train_data, start_step, global_batch_size):
    """``train_data`` (a dataset of global batches, or ``input_fn(start_step, input_context)``)
    as a repeated distributed dataset from batch ``start_step`` on (one iterator per run)."""
    if isinstance(train_data, tf.data.Dataset):
        batch = train_data.element_spec[0].shape[0]
        if batch is not None and batch != global_batch_size:
            raise ValueError(f"The training dataset yields batches of {batch} but "
                             f"TrainConfig.global_batch_size is {global_batch_size}: batch it "
                             f"to that size.")
        data = train_data.repeat()
        if start_step:
            data = data.skip(start_step)
        return strategy.experimental_distribute_dataset(data)
    if not callable(train_data):
        raise TypeError(f"train_data must be a tf.data.Dataset or input_fn(start_step, "
                        f"input_context), got {type(train_data).__name__}.")
    return strategy.distribute_datasets_from_function(
        lambda context: train_data(start_step, context).repeat())
