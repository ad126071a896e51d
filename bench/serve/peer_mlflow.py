"""Save a native LightGBM booster as an MLflow model (runs inside the MLflow venv).

``python peer_mlflow.py BOOSTER OUT_DIR COLUMNS_JSON``: logs the booster with
``mlflow.lightgbm.save_model`` and a signature of float columns (the category codes
and numeric features the benchmark sends in ``dataframe_split``).
"""

import json
import shutil
import sys

import lightgbm as lgb
import mlflow.lightgbm
import pandas as pd
from mlflow.models import infer_signature


def main() -> None:
    booster_path, out_dir, columns_json = sys.argv[1:4]
    columns = json.loads(columns_json)
    booster = lgb.Booster(model_file=booster_path)
    sample = pd.DataFrame([[0.0] * len(columns)], columns=columns, dtype="float64")
    signature = infer_signature(sample, booster.predict(sample.to_numpy()))
    shutil.rmtree(out_dir, ignore_errors=True)
    mlflow.lightgbm.save_model(booster, out_dir, signature=signature)


if __name__ == "__main__":
    main()
