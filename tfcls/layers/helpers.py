"""Small helpers shared by blocks and builders."""


def make_divisible(v, divisor=8, min_value=None, round_limit=0.9):
    """Rounds a channel count ``v`` to the nearest multiple of ``divisor`` (at least
    ``min_value``, default ``divisor``), going one step up if rounding lost more than
    ``1 - round_limit`` of ``v`` (MobileNet v2/v3 and EfficientNet's rule; EfficientNetV2 uses
    ``round_limit=0``, i.e. never step up)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if rounded < round_limit * v:
        rounded += divisor
    return int(rounded)
