"""The confusion-matrix picture: a title, whole class names, nothing painted over the grid."""
import numpy as np
from PIL import Image

from launch.plots import MAX_LABEL, PAD, confusion_matrix_png

GREY = (128, 128, 128)


def test_confusion_matrix_has_a_title_whole_names_and_a_clear_grid(tmp_path):
    names = ["circle", "a_class_name_of_twenty_nine_c", "x" * (MAX_LABEL + 5)]
    matrix = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    path = confusion_matrix_png(matrix, names, tmp_path / "cm.png", title="run: step 40, 91%")
    pixels = np.asarray(Image.open(path).convert("RGB"))
    grey_rows = [y for y in range(pixels.shape[0]) if (pixels[y] == GREY).all(-1).sum() > 100]
    top, bottom = grey_rows[0], grey_rows[-1]
    grey_columns = np.flatnonzero((pixels[top:bottom + 1] == GREY).all(-1).sum(0) > 100)
    left, right = grey_columns[0], grey_columns[-1]
    assert (pixels[top, left:right + 1] == GREY).all()  # the top edge is whole
    assert (pixels[top - PAD:top, left:right + 1] == 255).all()  # labels end PAD above it
    dark = (pixels < 100).all(-1)
    assert dark[:top - PAD, left:right + 1].any()  # the column labels
    title_band = dark[:PAD + 12]
    assert title_band.any() and not dark[PAD + 14:PAD + 16].all()
    # a name is shown whole up to MAX_LABEL characters: the longest name shown widens the
    # picture's left margin beyond a 14-character cut
    short = confusion_matrix_png(matrix, [n[:14] for n in names], tmp_path / "short.png")
    assert left > _grid_left(np.asarray(Image.open(short).convert("RGB")))


def _grid_left(pixels):
    return int(np.flatnonzero((pixels == GREY).all(-1).sum(0) > 100)[0])
