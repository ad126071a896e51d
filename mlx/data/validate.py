"""Validate a data file against the project's rules; every failure in one run.

pandera runs lazily and its ``failure_cases`` are folded into one row per
(column, check) with a sample of failing values and row numbers. Follow-on noise is
dropped: once a value cannot be coerced to the column's type, the dtype and range
checks on that same column would only repeat it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.config.model import MlxConfig, ProjectConfig
from mlx.data import schema as schema_mod
from mlx.data.report import SAMPLE, Failure, ValidationReport
from mlx.errors import ConfigError, ConfigIssue
from mlx.util import yamlsafe

if TYPE_CHECKING:
    import pandas as pd


def load_schema_text(project: ProjectConfig) -> str | None:
    ref = project.config.data.schema_file
    if ref is None:
        return None
    path = project.resolve(ref)
    if not path.is_file():
        raise ConfigError(
            f"schema file not found: {path}",
            [ConfigIssue(str(project.path), "data.schema", f"file {ref} does not exist")],
            hint="create it with `mlx validate --infer`",
        )
    text = path.read_text(encoding="utf-8")
    try:  # refuse an alias bomb before pandera parses it (a schema can come from a fork)
        yamlsafe.compose(text)
    except yamlsafe.yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        issue = ConfigIssue(str(path), "", problem, mark.line + 1 if mark else None)
        raise ConfigError(f"schema file {ref} is not valid YAML", [issue]) from None
    return text


def read_training_frame(project: ProjectConfig, path: Path | None = None) -> pd.DataFrame:
    from mlx.data.io import read_table

    data = project.config.data
    return read_table(path or project.resolve(data.train), schema_mod.string_columns(data))


def validate_frame(
    frame: pd.DataFrame, cfg: MlxConfig, schema_text: str | None, label: str
) -> tuple[ValidationReport, pd.DataFrame]:
    """Check ``frame`` against the config's rules (and ``schema_text``, a pandera YAML
    document); returns the report and the frame as coerced by the schema."""
    schema_mod.skip_data_synthesis()
    import pandera.pandas as pa

    try:
        schema = schema_mod.build_schema(cfg.data, schema_text, cfg.model.task)
    except (pa.errors.SchemaDefinitionError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"invalid data schema: {exc}") from None
    named = named_column_failures(list(frame.columns), cfg)
    failures: list[Failure] = []
    coerced = frame
    try:
        coerced = schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = summarize(exc.failure_cases)
    missing = {f.column for f in named}
    failures = named + [
        f for f in failures if not (f.check == "column present" and f.column in missing)
    ]
    if not has_rules(cfg, schema_text):
        from mlx.data.implicit import mixed_type_failures

        failures += mixed_type_failures(frame, set(cfg.data.categorical or []))
    failures += _role_checks(frame, cfg)
    return ValidationReport(label, len(frame), len(frame.columns), failures), coerced


def has_rules(cfg: MlxConfig, schema_text: str | None) -> bool:
    """Whether the project declares column rules (``data.columns`` or a schema file)."""
    return bool(cfg.data.columns) or schema_text is not None


def validate_file(project: ProjectConfig, path: Path | None = None) -> ValidationReport:
    target = path or project.resolve(project.config.data.train)
    frame = read_training_frame(project, target)
    schema_text = load_schema_text(project)
    report, _ = validate_frame(frame, project.config, schema_text, _display(project, target))
    if not has_rules(project.config, schema_text):
        _check_against_model(project, frame, report)
    return report


def _check_against_model(
    project: ProjectConfig, frame: pd.DataFrame, report: ValidationReport
) -> None:
    """With no declared rules, the working tree's trained model lends its schema."""
    from mlx.data.implicit import model_schema_failures
    from mlx.metadata import load_metadata
    from mlx.model_files import METADATA

    folder = project.model_dir
    if not (folder / METADATA).is_file():
        return
    meta = load_metadata(folder)
    label = f"{meta.name} ({_display(project, folder / METADATA)})"
    report.checked_against = label
    failing = {(f.column, f.check) for f in report.failures}
    for failure in model_schema_failures(frame, meta, label):
        if (failure.column, failure.check) not in failing and (
            failure.column,
            "one type (mixed numbers and text)",
        ) not in failing:
            report.failures.append(failure)


def named_column_failures(columns: list[str], cfg: MlxConfig) -> list[Failure]:
    """A failure for every column the config names that the data lacks, saying which key
    names it and the nearest columns the data has ("did you mean ...")."""
    from mlx.util.suggest import did_you_mean

    data = cfg.data
    named: list[tuple[str, str]] = [("data.target", data.target)]
    if data.id is not None:
        named.append(("data.id", data.id))
    for key, cols in (
        ("data.features", data.features or []),
        ("data.categorical", data.categorical or []),
        ("data.drop", data.drop),
        ("eval.slices", cfg.eval.slices),
    ):
        named += [(f"{key}[{i}]", col) for i, col in enumerate(cols)]
    keys_of: dict[str, list[str]] = {}
    for key, col in named:
        if col not in columns:
            keys_of.setdefault(col, []).append(key)
    return [
        Failure(
            col,
            "column present",
            1,
            hint=f"named by {', '.join(keys)}; {did_you_mean(col, columns)}",
        )
        for col, keys in keys_of.items()
    ]


def _display(project: ProjectConfig, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project.root))
    except ValueError:
        return str(path)


def _role_checks(frame: pd.DataFrame, cfg: MlxConfig) -> list[Failure]:
    """Checks pandera cannot express from the config alone."""
    out: list[Failure] = []
    target = cfg.data.target
    if target in frame.columns and cfg.model.task != "regression":
        n_classes = frame[target].nunique(dropna=True)
        if n_classes < 2:
            out.append(
                Failure(
                    target,
                    "at least two classes",
                    1,
                    [str(v) for v in frame[target].dropna().unique()[:SAMPLE]],
                )
            )
        elif cfg.model.task == "binary" and n_classes > 2:
            out.append(
                Failure(
                    target,
                    "binary target has two classes",
                    n_classes,
                    [str(v) for v in frame[target].dropna().unique()[:SAMPLE]],
                )
            )
    elif target in frame.columns and frame[target].nunique(dropna=True) < 2:
        out.append(
            Failure(
                target,
                "target is not constant",
                1,
                [str(v) for v in frame[target].dropna().unique()[:1]],
            )
        )
    return out


def summarize(cases: pd.DataFrame) -> list[Failure]:
    """One :class:`Failure` per (column, check), noise dropped, in a stable order."""
    cases = cases.copy()
    cases["column"] = cases["column"].where(cases["column"].notna(), None)
    coerce_failed = set(
        cases.loc[cases["check"].astype(str).str.startswith("coerce_dtype"), "column"]
    )
    keep = []
    for _, case in cases.iterrows():
        check = str(case["check"])
        col = case["column"]
        if col in coerce_failed and not check.startswith("coerce_dtype"):
            if check.startswith("dtype(") or "TypeError" in str(case["failure_case"]):
                continue
        keep.append(case)
    grouped: dict[tuple[str | None, str], Failure] = {}
    for case in keep:
        if (
            case["check"] == "column_in_dataframe"
        ):  # pandera puts the missing column in failure_case
            case = case.copy()
            case["column"], case["failure_case"] = str(case["failure_case"]), None
        key = (case["column"], _check_name(str(case["check"]), case["column"]))
        fail = grouped.setdefault(key, Failure(key[0], key[1], 0))
        fail.count += 1
        value = case["failure_case"]
        if value is not None and len(fail.values) < SAMPLE and _jsonable(value) not in fail.values:
            fail.values.append(_jsonable(value))
        index = case.get("index")
        if index is not None and index == index and len(fail.rows) < SAMPLE:  # not NaN
            fail.rows.append(int(index))
    return sorted(grouped.values(), key=lambda f: (f.column or "", f.check))


def _check_name(check: str, column: str | None) -> str:
    """pandera's check ids in words a person reads in a table."""
    if check == "column_in_dataframe":
        return "column present"
    if check == "column_in_schema":
        return "column allowed"
    if check.startswith("coerce_dtype("):
        return "type " + check[len("coerce_dtype(") :].rstrip(")").strip("'")
    if check == "not_nullable":
        return "not null"
    if check == "field_uniqueness":
        return "unique"
    return check


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)
