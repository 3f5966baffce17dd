"""Split scikit-learn's bundled 8x8 handwritten digits into train/valid/test Parquet files.

Each row holds the 64 pixel intensities scaled to [0, 1] (columns px0..px63) and the label.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 11


def main() -> None:
    out = Path(os.environ.get("LOCKGATE_OUT", "out"))
    out.mkdir(parents=True, exist_ok=True)
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.3, random_state=SEED, stratify=y
    )
    x_valid, x_test, y_valid, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=SEED, stratify=y_rest
    )
    names = [f"px{i}" for i in range(x.shape[1])]
    for split, xs, ys in (
        ("train", x_train, y_train),
        ("valid", x_valid, y_valid),
        ("test", x_test, y_test),
    ):
        frame = pd.DataFrame(xs, columns=names)
        frame["label"] = ys
        frame.to_parquet(out / f"{split}.parquet", index=False)
    print(f"prepare: {len(y_train)} train, {len(y_valid)} valid, {len(y_test)} test rows")


if __name__ == "__main__":
    main()
