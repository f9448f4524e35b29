"""Write scikit-learn's 1,797 8x8 digits as grey PNGs into FOLDER/<digit>/<index>.png.

    python examples/make_digit_folder.py data/digit_folder

The folder is the input of examples/vae_image_folder.yaml (data: {type: image_folder}).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def write_digit_folder(folder: Path, limit: int | None = None) -> int:
    """Write the digits (the first ``limit`` of them) as PNGs; returns how many."""
    images, labels = load_digits(return_X_y=True)
    count = len(images) if limit is None else min(limit, len(images))
    for index in range(count):
        pixels = (images[index].reshape(8, 8) * (255 / 16)).round().astype(np.uint8)
        (folder / str(labels[index])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / str(labels[index]) / f"{index}.png")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write the class sub-folders")
    parser.add_argument("--limit", type=int, default=None, help="write only the first N digits")
    args = parser.parse_args()
    count = write_digit_folder(args.folder, args.limit)
    print(f"wrote {count} digits to {args.folder}/0 ... {args.folder}/9")


if __name__ == "__main__":
    main()
