"""Split scikit-learn's bundled breast-cancer dataset into train/valid/test Parquet files.

Features are standardized with the training split's mean and deviation, so the model sees the
same scale at training, evaluation and serving time (the scaler is written next to the data).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

SEED = 7


def main() -> None:
    out = Path(os.environ.get("LOCKGATE_OUT", "out"))
    out.mkdir(parents=True, exist_ok=True)
    bunch = load_breast_cancer()
    names = [n.replace(" ", "_") for n in bunch.feature_names]
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.3, random_state=SEED, stratify=y
    )
    x_valid, x_test, y_valid, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=SEED, stratify=y_rest
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    for split, xs, ys in (
        ("train", x_train, y_train),
        ("valid", x_valid, y_valid),
        ("test", x_test, y_test),
    ):
        frame = pd.DataFrame((xs - mean) / std, columns=names)
        frame["label"] = ys
        frame.to_parquet(out / f"{split}.parquet", index=False)
    (out / "scaler.json").write_text(
        json.dumps({"features": names, "mean": mean.tolist(), "std": std.tolist()}, indent=2)
    )
    print(f"prepare: {len(y_train)} train, {len(y_valid)} valid, {len(y_test)} test rows")


if __name__ == "__main__":
    main()
