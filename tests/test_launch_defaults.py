"""The command line's default recipe and its end-of-run hint, in-process (no subprocess)."""


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
