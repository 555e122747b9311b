"""From data flags to input pipelines: the built-in shapes data set or the user's image folder."""
from launch.common import UserError, preprocessing_args
from tfcls import data


def load_files(data_dir, val_split, seed):
    """``(train_files, train_labels, val_files, val_labels, class_names, data_dir)`` of the data
    flags; ``data_dir`` is the one used (with none given, the built-in shapes data set, generated
    once into the cache dir)."""
    if data_dir is None:
        data_dir = data.make_shapes_dataset()
        print(f"No --data_dir: using the built-in shapes data set at {data_dir}", flush=True)
    if not 0.0 <= val_split < 1.0:
        raise UserError(f"--val_split must be in [0, 1), got {val_split}.")
    train_files, train_labels, val_files, val_labels, class_names, skipped = (
        data.load_image_folder(data_dir, val_split=val_split, seed=seed))
    if not train_files:
        raise UserError(f"No training images found under {data_dir}: put images (jpeg, png, "
                        f"bmp, gif) in one folder per class.")
    if skipped:
        print(f"warning: skipped {skipped} non-image or corrupt file(s) under {data_dir}",
              flush=True)
    return train_files, train_labels, val_files, val_labels, class_names, data_dir


def parse_threads(value):
    if value in (None, "autotune"):
        return value
    try:
        return int(value)
    except ValueError:
        raise UserError(f"--threads must be a number or 'autotune', got {value!r}.") from None


def augmentation_args(flags, num_classes):
    """The pipeline's colour jitter, RandAugment, random erasing and mixup/cutmix arguments from
    their flags, checked."""
    if not 0.0 <= flags.color_jitter <= 1.0:
        raise UserError(f"--color_jitter is a strength in [0, 1] (factors 1 +- x), got "
                        f"{flags.color_jitter}.")
    for name in ("random_erasing", "mixup_prob", "mixup_switch_prob"):
        if not 0.0 <= getattr(flags, name) <= 1.0:
            raise UserError(f"--{name} is a probability in [0, 1], got {getattr(flags, name)}.")
    for name in ("mixup", "cutmix"):
        if not getattr(flags, name) >= 0.0:
            raise UserError(f"--{name} is a Beta distribution's alpha, >= 0 (0 = off), got "
                            f"{getattr(flags, name)}.")
    if flags.randaugment_ops < 0 or not 0 <= flags.randaugment_magnitude <= 10 or not (
            flags.randaugment_mstd >= 0):
        raise UserError(f"RandAugment needs --randaugment_ops >= 0, --randaugment_magnitude in "
                        f"[0, 10] and --randaugment_mstd >= 0; got {flags.randaugment_ops}, "
                        f"{flags.randaugment_magnitude}, {flags.randaugment_mstd}.")
    rand_augment = ((flags.randaugment_ops, flags.randaugment_magnitude, flags.randaugment_mstd)
                    if flags.randaugment_ops else None)
    return dict(color_jitter=flags.color_jitter, rand_augment=rand_augment,
                random_erasing=flags.random_erasing,
                mixup_alpha=flags.mixup,
                cutmix_alpha=flags.cutmix, mix_prob=flags.mixup_prob,
                mix_switch_prob=flags.mixup_switch_prob, num_classes=num_classes)


def train_input_fn(files, labels, model, image_size, global_batch_size, seed, min_crop_scale,
                   threads, **augmentation):
    return data.build_train_input_fn(
        files, labels, image_size=image_size, global_batch_size=global_batch_size, seed=seed,
        scale=(min_crop_scale, 1.0), threads=parse_threads(threads), **augmentation,
        **preprocessing_args(model))


def eval_dataset(files, labels, model, image_size, batch_size, threads=None):
    if not files:
        return None
    return data.build_eval_dataset(
        files, labels, image_size=image_size, batch_size=batch_size,
        crop_pct=model.pretrained_cfg.get("crop_pct", 0.875), threads=parse_threads(threads),
        **preprocessing_args(model))
