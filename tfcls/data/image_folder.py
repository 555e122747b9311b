"""Image-folder data sets: one sub-folder per class, split into train/val by folder or by fraction.

Layouts understood (class names are the sorted sub-folder names)::

    root/train/<class>/<image>, root/val/<class>/<image>   (split by folder)
    root/<class>/<image>                                   (split by ``val_split`` fraction)

Files are found recursively inside each class folder. JPEG, PNG, BMP and GIF files are accepted when
their first bytes are those of the format (and a PNG ends with its IEND chunk, which catches
truncated PNGs); anything else (text files, garbage with an image extension, truncated PNGs) is
skipped and counted, never a crash. Files that pass these checks but still fail to decode are
dropped later by the input pipeline (see ``tfcls.data.pipeline``).
"""
import os
import warnings

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_MAGIC_BYTES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
_PNG_END = b"IEND\xaeB`\x82"
_LAYOUT_HELP = ("Expected one folder per class, e.g. {root}/<class_name>/<image>.jpg, or "
                "{root}/train/<class_name>/... and {root}/val/<class_name>/....")


def is_image_file(path):
    """True when ``path`` has an image extension and starts with that format's magic bytes."""
    if not path.lower().endswith(IMAGE_EXTENSIONS):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if not head.startswith(_MAGIC_BYTES):
                return False
            if head.startswith(b"\x89PNG"):
                f.seek(max(os.path.getsize(path) - 64, 0))
                return _PNG_END in f.read()
    except OSError:
        return False
    return True


def find_classes(directory):
    """Sorted class names: the non-hidden sub-folders of ``directory``."""
    _check_dir(directory)
    classes = sorted(e.name for e in os.scandir(directory)
                     if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise ValueError(f"No class folders in {directory}. " + _LAYOUT_HELP.format(root=directory))
    return classes


def scan_image_folder(directory, class_names=None):
    """Lists the images of a class-per-folder directory.

    Returns ``(files, labels, class_names, skipped)``: sorted file paths, int labels indexing
    ``class_names`` (found in ``directory`` unless given, e.g. a val folder takes the train folder's
    classes) and the list of skipped (non-image or corrupt) files.
    """
    found = find_classes(directory)
    if class_names is None:
        class_names = found
    unknown = sorted(set(found) - set(class_names))
    if unknown:
        raise ValueError(f"{directory} has class folders {unknown} that the training data does not "
                         f"have (training classes: {list(class_names)}).")
    files, labels, skipped = [], [], []
    for label, name in enumerate(class_names):
        for path in _walk_files(os.path.join(directory, name)):
            if is_image_file(path):
                files.append(path)
                labels.append(label)
            else:
                skipped.append(path)
    if not files:
        raise ValueError(f"No readable images (extensions {IMAGE_EXTENSIONS}) in the class folders "
                         f"of {directory}. " + _LAYOUT_HELP.format(root=directory))
    return files, labels, list(class_names), skipped


def split_by_fraction(files, labels, val_split, seed=0):
    """Stratified deterministic split: ``round(val_split * n)`` files of each class go to val.

    A class keeps at least one training file; a class with two or more files gives at least one to
    val when ``val_split > 0``. Returns ``(train_files, train_labels, val_files, val_labels)``, each
    in the input order.
    """
    if not 0.0 <= val_split < 1.0:
        raise ValueError(f"val_split must be in [0, 1), got {val_split}.")
    labels = np.asarray(labels)
    is_val = np.zeros(len(files), dtype=bool)
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        num_val = int(round(val_split * len(members)))
        if val_split > 0 and len(members) > 1:
            num_val = min(max(num_val, 1), len(members) - 1)
        is_val[rng.permutation(members)[:num_val]] = True
    train, val = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    return ([files[i] for i in train], labels[train].tolist(),
            [files[i] for i in val], labels[val].tolist())


def load_image_folder(data_dir, val_split=0.0, seed=0):
    """Scans ``data_dir`` and splits it; what a command line needs in one call.

    With ``data_dir/train`` present, training images come from it and validation images from
    ``data_dir/val`` (or from a ``val_split`` fraction of train when there is no val folder).
    Otherwise ``data_dir`` holds the class folders and ``val_split`` of each class goes to
    validation (none when 0). Skipped files are counted in a warning; a class folder left
    without a readable training image is refused (ValueError naming it).

    Returns ``(train_files, train_labels, val_files, val_labels, class_names, skipped_count)``.
    """
    _check_dir(data_dir)
    train_dir, val_dir = os.path.join(data_dir, "train"), os.path.join(data_dir, "val")
    by_folder = os.path.isdir(train_dir)
    files, labels, class_names, skipped = scan_image_folder(train_dir if by_folder else data_dir)
    if by_folder and os.path.isdir(val_dir):
        val_files, val_labels, _, val_skipped = scan_image_folder(val_dir, class_names)
        train_files, train_labels, skipped = files, labels, skipped + val_skipped
    else:
        train_files, train_labels, val_files, val_labels = split_by_fraction(
            files, labels, val_split, seed)
    _refuse_empty_classes(train_labels, class_names, train_dir if by_folder else data_dir,
                          skipped)
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        warnings.warn(f"Skipped {len(skipped)} non-image or corrupt file(s) under {data_dir}: "
                      f"{shown}", stacklevel=2)
    return train_files, train_labels, val_files, val_labels, class_names, len(skipped)


def _check_dir(directory):
    if not os.path.exists(directory):
        raise FileNotFoundError(f"Data directory {directory} does not exist. "
                                + _LAYOUT_HELP.format(root=directory))
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"{directory} is a file, not a data directory. "
                                 + _LAYOUT_HELP.format(root=directory))


def _walk_files(directory):
    """All non-hidden files under ``directory``, in a sorted (deterministic) order."""
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield os.path.join(dirpath, name)


def _refuse_empty_classes(labels, class_names, directory, skipped):
    """A class folder without one readable training image would be a class the model can never
    learn (an untrainable output): a ValueError naming the folder(s)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    empty = [os.path.join(directory, name) for name, count in zip(class_names, counts)
             if count == 0]
    if empty:
        unreadable = sum(1 for path in skipped if any(path.startswith(folder + os.sep)
                                                      for folder in empty))
        raise ValueError(
            f"Class folder{'s' if len(empty) > 1 else ''} {', '.join(empty)} ha"
            f"{'ve' if len(empty) > 1 else 's'} no readable training image ({unreadable} "
            f"non-image or corrupt file(s)): add images, or remove the folder to train without "
            f"that class.")
