"""A confusion-matrix picture drawn with Pillow (no plotting library needed)."""
import numpy as np
from PIL import Image, ImageDraw, ImageFont

MAX_LABEL = 32  # characters of a class name shown; a longer one ends in "..."
PAD = 6


def _label(name):
    return name if len(name) <= MAX_LABEL else name[:MAX_LABEL - 3] + "..."


def confusion_matrix_png(matrix, class_names, path, title=None, cell=40):
    """Rows: true class, columns: predicted; cell shade = fraction of the row, with the count.
    ``title`` (e.g. the run, the checkpoint's step and top-1) is written above the grid; class
    names are shown whole up to MAX_LABEL characters, the columns' rotated above the grid."""
    n = len(class_names)
    labels = [_label(name) for name in class_names]
    font = ImageFont.load_default()
    text_height = _text_size(font, "Ag")[1]
    label_width = max(_text_size(font, label)[0] for label in labels)
    title_height = text_height + 2 * PAD if title else 0
    left = label_width + 2 * PAD
    top = title_height + label_width + 2 * PAD
    width = max(left + n * cell + PAD, _text_size(font, title or "")[0] + 2 * PAD)
    image = Image.new("RGB", (width, top + n * cell + text_height + 3 * PAD), "white")
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((PAD, PAD), title, fill="black", font=font)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    for i in range(n):
        for j in range(n):
            x0, y0 = left + j * cell, top + i * cell
            shade = int(255 * (1 - rows[i, j]))
            draw.rectangle([x0, y0, x0 + cell, y0 + cell], fill=(shade, shade, 255),
                           outline="grey")
            draw.text((x0 + 4, y0 + (cell - text_height) // 2), str(int(matrix[i, j])),
                      fill="black" if shade > 128 else "white", font=font)
        draw.text((PAD, top + i * cell + (cell - text_height) // 2), labels[i], fill="black",
                  font=font)
        column = Image.new("RGB", (label_width + 2, text_height + 2), "white")
        ImageDraw.Draw(column).text((0, 0), labels[i], fill="black", font=font)
        rotated = column.rotate(90, expand=True)  # reads bottom to top, ends PAD above the grid
        image.paste(rotated, (left + i * cell + (cell - rotated.width) // 2,
                              top - PAD - rotated.height))
    draw.text((left, top + n * cell + PAD), "rows: true class   columns: predicted",
              fill="black", font=font)
    image.save(path)
    return path


def _text_size(font, text):
    left, upper, right, lower = font.getbbox(text or " ")
    return right - left, lower - upper
