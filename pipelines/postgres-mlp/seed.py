"""Load scikit-learn's bundled breast-cancer dataset into a PostgreSQL table, as an operational
database would hold it: one row per patient, an increasing ``id`` and an ``admitted_at`` time.

Connection settings come from the usual libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
PGDATABASE). ``--rows N`` loads only the first N patients, so a later run can add the rest and
the incremental ingest reads just those. Features are standardized so the model trains well.
"""

from __future__ import annotations

import argparse

import numpy as np
import psycopg
from sklearn.datasets import load_breast_cancer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    bunch = load_breast_cancer()
    names = [n.replace(" ", "_") for n in bunch.feature_names]
    x = bunch.data.astype(np.float64)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    y = bunch.target.astype(np.int64)
    with psycopg.connect(autocommit=True) as conn:
        cols = ", ".join(f"{n} double precision" for n in names)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS patients (id bigint PRIMARY KEY, "
            f"admitted_at timestamp NOT NULL, {cols}, label int NOT NULL)"
        )
        have = conn.execute("SELECT count(*) FROM patients").fetchone()[0]  # type: ignore[index]
        upto = len(y) if args.rows is None else min(len(y), have + args.rows)
        rows = [
            (i + 1, "2024-01-01 00:00:00", *map(float, x[i]), int(y[i])) for i in range(have, upto)
        ]
        marks = ", ".join(["%s"] * (len(names) + 3))
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO patients VALUES ({marks})", rows)
    print(f"seed: patients now holds {upto} rows")


if __name__ == "__main__":
    main()
