"""The bundled example: a deterministic customer-churn table, generated locally.

Training data has real signal (churn rises with monthly charges, month-to-month
contracts, support calls and short tenure), numeric and string columns, missing
values and an id. The "live" batch comes from a shifted world (higher charges, a new
payment method, more missing ages) so drift monitoring has something to find.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

TRAIN_ROWS = 6000
LIVE_ROWS = 2000
SEED = 20240601

PLANS = ["basic", "standard", "premium"]
CONTRACTS = ["month-to-month", "one-year", "two-year"]
PAYMENTS = ["card", "bank-transfer", "electronic-check", "mailed-check"]
REGIONS = ["north", "south", "east", "west", "central"]


def _frame(rng: np.random.Generator, n: int, start_id: int, live: bool) -> pd.DataFrame:
    import pandas as pd

    plan = rng.choice(PLANS, n, p=[0.45, 0.35, 0.20])
    contract = rng.choice(CONTRACTS, n, p=[0.55, 0.25, 0.20] if not live else [0.70, 0.18, 0.12])
    payments = PAYMENTS + (["crypto-wallet"] if live else [])
    pay_p = [0.35, 0.25, 0.25, 0.15] if not live else [0.30, 0.22, 0.22, 0.13, 0.13]
    payment = rng.choice(payments, n, p=pay_p).astype(object)
    region = rng.choice(REGIONS, n)
    tenure = np.clip(rng.gamma(2.0, 14.0, n), 0, 72).round().astype(int)
    base = {"basic": 35.0, "standard": 65.0, "premium": 95.0}
    monthly = np.array([base[p] for p in plan]) + rng.normal(0, 9, n) + (14.0 if live else 0.0)
    monthly = np.clip(monthly, 18.0, 140.0).round(2)
    total = (monthly * np.maximum(tenure, 1) * rng.uniform(0.92, 1.03, n)).round(2)
    age = rng.normal(44, 14, n).clip(18, 90).round()
    calls = rng.poisson(1.2 + (contract == "month-to-month") * 0.8, n)
    paperless = rng.choice(["yes", "no"], n, p=[0.6, 0.4])

    logit = (
        -2.2
        + 0.035 * (monthly - 65)
        - 0.045 * (tenure - 24)
        + 1.3 * (contract == "month-to-month")
        - 0.6 * (contract == "two-year")
        + 0.38 * calls
        + 0.5 * (payment == "electronic-check")
        + 0.25 * (paperless == "yes")
        - 0.01 * (age - 44)
    )
    churned = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)

    total = np.where(rng.uniform(size=n) < 0.02, np.nan, total)
    age = np.where(rng.uniform(size=n) < (0.15 if live else 0.03), np.nan, age)
    payment[rng.uniform(size=n) < 0.01] = None

    return pd.DataFrame(
        {
            "customer_id": [f"C{start_id + i:06d}" for i in range(n)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "age": age,
            "support_calls": calls,
            "plan": plan,
            "contract": contract,
            "payment_method": payment,
            "region": region,
            "paperless_billing": paperless,
            "churned": churned,
        }
    )


def write_example(folder: Path) -> dict[str, Path]:
    """Write ``train.csv``, ``live.csv`` (no label) and ``live_labels.csv`` into ``folder``.

    Returns the written paths by role. Same bytes on every run.
    """
    from mlx.util.atomic import atomic_path

    rng = np.random.default_rng(SEED)
    train = _frame(rng, TRAIN_ROWS, 1, live=False)
    live = _frame(rng, LIVE_ROWS, TRAIN_ROWS + 1, live=True)
    paths = {
        "train": folder / "train.csv",
        "live": folder / "live.csv",
        "live_labels": folder / "live_labels.csv",
    }
    tables = {
        "train": train,
        "live": live.drop(columns=["churned"]),
        "live_labels": live[["customer_id", "churned"]],
    }
    for role, path in paths.items():
        with atomic_path(path) as tmp:
            tables[role].to_csv(tmp, index=False, float_format="%.2f", lineterminator="\n")
    return paths
