"""Training state as a flat ``{stable path: variable}`` dict, and its numpy snapshot.

Paths follow the object graph that ``tf.train.Checkpoint`` uses (attribute names from the root,
e.g. ``model/blocks/0/conv/kernel``), so they do not depend on the process-global layer counters
behind Keras variable names (``conv2d_7``) and are the same when the model is rebuilt in a new
process.
"""
import collections

import numpy as np
import tensorflow as tf


def variable_paths(root, prefix):
    """``{prefix/attr/.../name: variable}`` for every variable reachable from ``root``.

    Breadth-first over the trackable object graph: a variable reachable by several paths gets the
    shortest one (the first found), as in a TF checkpoint's object graph.
    """
    view = tf.train.TrackableView(root)
    found, visited = {}, {id(root)}
    queue = collections.deque([(prefix, root)])
    while queue:
        path, obj = queue.popleft()
        for name, child in view.children(obj).items():
            if id(child) in visited:
                continue
            visited.add(id(child))
            child_path = f"{path}/{name}"
            if isinstance(child, tf.Variable):
                found[child_path] = child
            else:
                queue.append((child_path, child))
    return found


def _base_name(variable):
    name = variable.name
    return name[:-2] if name.endswith(":0") else name


def optimizer_variable_paths(optimizer, model_paths, prefix="optimizer"):
    """Stable paths for the optimizer state (step counter, slots, loss scale).

    A slot named ``m/<model variable name>`` (the tf_keras convention) gets
    ``optimizer/m/<stable path of that model variable>``; anything else is keyed by its position
    in ``optimizer.variables`` (which follows the model's variable order) and its name.
    """
    by_name = collections.defaultdict(list)
    for path, var in model_paths.items():
        by_name[_base_name(var)].append(path)
    found = {}
    for index, var in enumerate(_optimizer_variables(optimizer)):
        slot, _, rest = _base_name(var).partition("/")
        owners = by_name.get(rest, [])
        if rest and len(owners) == 1:
            key = f"{prefix}/{slot}/{owners[0].split('/', 1)[1]}"
        else:
            key = f"{prefix}/{index:04d}_{_base_name(var).replace('/', '_')}"
        if key in found:
            key = f"{prefix}/{index:04d}_{_base_name(var).replace('/', '_')}"
        found[key] = var
    return found


def _optimizer_variables(optimizer):
    """The optimizer's variables, plus the dynamic loss scale of a LossScaleOptimizer."""
    variables = list(optimizer.variables)
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:
        known = {id(v) for v in variables}
        variables += [v for v in inner.variables if id(v) not in known]
        extra = variable_paths(optimizer, "lso")
        variables += [v for _, v in sorted(extra.items())
                      if id(v) not in {id(u) for u in variables}]
    return variables


def snapshot(variables):
    """Nested dict of numpy copies of ``{path: variable}`` (the pytree orbax saves).

    Path segments become nested keys; arrays (never numpy scalars) as orbax requires.
    """
    tree = {}
    for path, var in variables.items():
        node = tree
        *parents, leaf = path.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = np.array(var.numpy())
    return tree


def flatten(tree, prefix=""):
    """Inverse of the nesting in ``snapshot``: ``{path: array}``."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def all_finite(variables):
    """Whether every floating-point variable of ``{path: variable}`` is finite."""
    for var in variables.values():
        if var.dtype.is_floating and not np.all(np.isfinite(var.numpy())):
            return False
    return True
