"""The command line's default recipe and its end-of-run hint, and the training flags generated
from TrainConfig, in-process (no subprocess)."""
import pytest


def test_default_recipe_adapts_crop_and_warmup_to_the_data():
    """Unset --min_crop_scale / --warmup_epochs: from the image size, data set size and run."""
    from launch.train import default_min_crop_scale, default_warmup_steps

    assert default_min_crop_scale(32, 1_400) == 0.5  # tiny images keep most of the frame
    assert default_min_crop_scale(96, 1_000_000) == 0.25
    assert default_min_crop_scale(224, 20_000) == 0.25  # small data set at full size
    assert default_min_crop_scale(224, 1_281_167) == 0.08  # ImageNet: Inception's crops
    assert default_warmup_steps(total=165, steps_per_epoch=11) == 8  # 5% of the run
    assert default_warmup_steps(total=90 * 5004, steps_per_epoch=5004) == 22518
    assert default_warmup_steps(total=300 * 5004, steps_per_epoch=5004) == 5 * 5004  # the cap


def test_a_run_that_ends_near_chance_says_what_to_try(capsys):
    from launch.train import report_end

    report_end({"step": 28, "val_top1": 0.127, "val_top5": 0.9}, None, "runs/x", num_classes=6)
    report_end({"step": 28, "val_top1": 0.91, "val_top5": 1.0}, None, "runs/y", num_classes=6)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Done: validation top-1 12.70%")
    assert lines[1].startswith("hint: validation top-1 is near chance (16.7% for 6 classes)")
    assert "--epochs" in lines[1] and not any("hint" in line for line in lines[2:])


# TrainConfig fields without a flag: the launcher derives them from the epoch-based flags (or
# runs/<model>), or they are Python only (boundaries: the command line has --decay_epochs).
DERIVED_BY_THE_LAUNCHER = {"total_steps", "warmup_steps", "decay_steps", "steps_per_loop",
                           "checkpoint_every", "eval_every", "model_dir"}
PYTHON_ONLY = {"boundaries"}


def _training_flags():
    from launch import train  # noqa: F401  (defines the training flags)
    from launch.flags import CONFIG_FLAGS, FLAGS
    return FLAGS, CONFIG_FLAGS


def test_every_flag_default_is_the_train_config_default():
    """One source of defaults: each TrainConfig field has a flag with its default, help and
    choices, or is one the launcher derives (from epochs), named here."""
    from trainers.config import FLAT_PATHS, TrainConfig, leaf_fields

    values, generated = _training_flags()
    defaults = TrainConfig()
    without_flag = set()
    for path, field in leaf_fields():
        name = field.metadata["flag"]
        if name is None:
            without_flag.add(path[-1])
            continue
        flag = values[name or path[-1]]
        assert flag.default == defaults.get(path), name
        assert flag.help.endswith(field.metadata["help"])
        assert FLAT_PATHS[generated[flag.name]] == path
        if field.metadata["choices"]:
            assert list(flag.parser.enum_values) == list(field.metadata["choices"])
    assert without_flag == DERIVED_BY_THE_LAUNCHER | PYTHON_ONLY
    assert len(generated) >= 25
    assert values["seed"].default == 0 == defaults.seed  # once 0 on the command line, None here


def _another_valid_value(field, default):
    """A value of the field's type that passes its check and differs from ``default``."""
    from launch.flags import _base_type
    if field.metadata["choices"]:
        return next(c for c in field.metadata["choices"] if c != default)
    kind = _base_type(field.type)
    if kind is bool:
        return not default
    candidates = {int: [5, 3], float: [0.5, 0.25, 3.0], str: ["x"]}[kind]
    check = field.metadata["check"] or (lambda v: True, "")
    return next(v for v in candidates if v != default and check[0](v))


def test_every_training_flag_reaches_its_train_config_field(tmp_path):
    """Each generated flag, set to another valid value on the command line, lands in the
    TrainConfig the launcher builds (nested fields included); the derived fields come from the
    epoch-based flags."""
    from launch.train import train_config
    from trainers.config import FLAT_PATHS, leaf_fields

    values, generated = _training_flags()
    fields = dict(leaf_fields())
    expected, argv = {}, ["train"]
    for name, key in generated.items():
        path = FLAT_PATHS[key]
        value = _another_valid_value(fields[path], values[name].default)
        expected[path] = value
        argv.append(f"--{name}={str(value).lower() if isinstance(value, bool) else value}")
    argv += ["--epochs=3", "--warmup_epochs=1", "--decay_epochs=2"]
    try:
        values(argv)
        config = train_config(values, steps_per_epoch=7, model_dir=str(tmp_path))
    finally:
        values.unparse_flags()
    for path, value in expected.items():
        assert config.get(path) == value, path
    assert (config.total_steps, config.schedule.warmup_steps, config.schedule.decay_steps) == (
        21, 7, 14)
    assert (config.checkpoint_every, config.eval_every, config.steps_per_loop) == (7, 7, 7)
    assert config.model_dir == str(tmp_path)
    config.validate()


def test_choice_lists_are_tfcls_optims():
    from tfcls.optim import OPTIMIZER_NAMES, SCHEDULE_NAMES
    from trainers.config import OPTIMIZERS, SCHEDULES

    assert OPTIMIZERS == OPTIMIZER_NAMES and SCHEDULES == SCHEDULE_NAMES


def test_train_config_in_python_nested_or_flat():
    from trainers.config import ConfigError, OptimizerConfig, ScheduleConfig, TrainConfig

    nested = TrainConfig(total_steps=50, optimizer=OptimizerConfig("sgd", nesterov=True),
                         schedule=ScheduleConfig("step", learning_rate=0.1, decay_steps=10))
    flat = TrainConfig.from_flat(total_steps=50, optimizer="sgd", nesterov=True,
                                 schedule="step", learning_rate=0.1, decay_steps=10)
    assert nested == flat and flat.optimizer.momentum == 0.9  # the rest: defaults
    with pytest.raises(TypeError, match="lr_schedul"):
        TrainConfig.from_flat(lr_schedule="step")
    with pytest.raises(ConfigError, match=r"TrainConfig.optimizer.momentum must be in \[0, 1\)"):
        TrainConfig.from_flat(momentum=1.5).validate()
