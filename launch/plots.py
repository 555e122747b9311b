"""A confusion-matrix picture drawn with Pillow (no plotting library needed)."""
import numpy as np
from PIL import Image, ImageDraw, ImageFont


def confusion_matrix_png(matrix, class_names, path, cell=40, max_label=14):
    """Rows: true class, columns: predicted; cell shade = fraction of the row, with the count."""
    n = len(class_names)
    labels = [name[:max_label] for name in class_names]
    font = ImageFont.load_default()
    margin = 8 + 7 * max(len(label) for label in labels)
    size = (margin + n * cell + 10, margin + n * cell + 30)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    for i in range(n):
        for j in range(n):
            x0, y0 = margin + j * cell, margin + i * cell
            shade = int(255 * (1 - rows[i, j]))
            draw.rectangle([x0, y0, x0 + cell, y0 + cell], fill=(shade, shade, 255),
                           outline="grey")
            draw.text((x0 + 4, y0 + cell // 2 - 5), str(int(matrix[i, j])),
                      fill="black" if shade > 128 else "white", font=font)
        draw.text((4, margin + i * cell + cell // 2 - 5), labels[i], fill="black", font=font)
        column = Image.new("RGB", (margin, 12), "white")
        ImageDraw.Draw(column).text((2, 0), labels[i], fill="black", font=font)
        image.paste(column.rotate(90, expand=True), (margin + i * cell + cell // 2 - 6, 4))
    draw.text((margin, margin + n * cell + 8), "rows: true class   columns: predicted",
              fill="black", font=font)
    image.save(path)
    return path
