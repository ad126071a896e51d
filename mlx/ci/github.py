"""GitHub Actions workflows written by ``mlx init --ci github``.

The templates (``mlx/templates/ci/github/``) are complete workflows with a few
``__PLACEHOLDERS__``; rendering fills them from the project (its folder inside the
repository, its DVC remote's kind) and from constants here (the actions pinned by commit
SHA, the mlx version). The rendered files are checked in tests against GitHub's
workflow schema and audited with zizmor.

Credentials for the DVC remote come from repository secrets through ``env:`` or
``--local`` DVC config written in the runner's temp folder; nothing secret is echoed.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mlx import __version__

PLACEHOLDER = re.compile(r"__[A-Z][A-Z_]*__")
WORKFLOWS = ("mlx-pr.yml", "mlx-registry.yml", "mlx-monitor.yml")
WORKFLOW_DIR = Path(".github") / "workflows"
DEPLOY_STAGE = "prod"
MONITOR_CRON = "23 6 * * *"  # daily, off the hour (GitHub delays runs queued on the hour)

# Pinned by full commit SHA (zizmor: unpinned-uses); the comment names the release.
ACTIONS = {
    "CHECKOUT": ("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "SETUP_PYTHON": (
        "actions/setup-python",
        "5fda3b95a4ea91299a34e894583c3862153e4b97",
        "v7.0.0",
    ),
    "UPLOAD_ARTIFACT": (
        "actions/upload-artifact",
        "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
        "v7.0.0",
    ),
    "DOWNLOAD_ARTIFACT": (
        "actions/download-artifact",
        "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
        "v8.0.1",
    ),
}

# DVC remote scheme → secrets exported as environment variables DVC reads.
ENV_SECRETS = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "azure": ("AZURE_STORAGE_CONNECTION_STRING",),
}
# DVC remote scheme → a step that turns a secret into --local DVC config.
CONFIG_STEPS = {
    "gs": (
        "Google Cloud credentials for DVC",
        "GCP_CREDENTIALS",
        'umask 077\nprintf \'%s\' "$GCP_CREDENTIALS" > "$RUNNER_TEMP/gcp-key.json"\n'
        'dvc remote modify --local "$(dvc remote default)" credentialpath '
        '"$RUNNER_TEMP/gcp-key.json"',
    ),
    "ssh": (
        "SSH key for DVC",
        "DVC_SSH_KEY",
        'umask 077\nprintf \'%s\\n\' "$DVC_SSH_KEY" > "$RUNNER_TEMP/dvc-ssh-key"\n'
        'dvc remote modify --local "$(dvc remote default)" keyfile "$RUNNER_TEMP/dvc-ssh-key"',
    ),
    "https": (
        "HTTP credentials for DVC",
        "DVC_REMOTE_PASSWORD",
        'dvc remote modify --local "$(dvc remote default)" auth basic\n'
        'dvc remote modify --local "$(dvc remote default)" user "$DVC_REMOTE_USER"\n'
        'dvc remote modify --local "$(dvc remote default)" password "$DVC_REMOTE_PASSWORD"',
    ),
}
CONFIG_STEPS["webdavs"] = CONFIG_STEPS["https"]


@dataclass(frozen=True)
class Rendered:
    path: Path  # relative to the git root
    text: str


def remote_scheme(url: str | None) -> str:
    """``s3``, ``gs``, ``azure``, ``ssh``, ``https``... or ``local`` for a folder/none."""
    if not url or "://" not in url:
        return "local"
    scheme = url.split("://", 1)[0].lower()
    return {"gcs": "gs", "az": "azure", "http": "https", "webdav": "webdavs"}.get(scheme, scheme)


def render_all(workdir: str, remote_url: str | None) -> list[Rendered]:
    """The workflows for a project in ``workdir`` (relative to the git root, "." for it)."""
    return [
        Rendered(WORKFLOW_DIR / name, render(name, workdir, remote_scheme(remote_url)))
        for name in WORKFLOWS
    ]


def render(name: str, workdir: str, scheme: str) -> str:
    values = {
        "MLX_VERSION": __version__,
        "MLX_PACKAGE": f"mlx-mlops=={__version__}",
        "PYTHON_VERSION": f"{sys.version_info.major}.{sys.version_info.minor}",
        "WORKDIR": workdir,
        "STAGE": DEPLOY_STAGE,
        "CRON": MONITOR_CRON,
        "PYTHON_STEPS": _template("_python.yml").rstrip("\n"),
        "DVC_STEPS": (_template("_dvc.yml") + _config_step(scheme)).rstrip("\n"),
        "DVC_CREDENTIAL_ENV": _env_lines(scheme),
    }
    for key, (repo, sha, tag) in ACTIONS.items():
        values[f"ACTION_{key}"] = f"{repo}@{sha} # {tag}"
    text = _template(name)
    # Fragments first: they hold placeholders of their own.
    for key in ("PYTHON_STEPS", "DVC_STEPS"):
        text = text.replace(f"__{key}__", values[key])
    for key, value in values.items():
        if not value:  # an empty fragment takes its line with it
            text = text.replace(f"__{key}__\n", "")
        text = text.replace(f"__{key}__", value)
    text = _drop_empty_env(text)
    left = PLACEHOLDER.search(text)
    assert left is None, f"unrendered placeholder {left.group()} in {name}"
    return text


def _template(name: str) -> str:
    return resources.files("mlx.templates").joinpath("ci", "github", name).read_text("utf-8")


def _env_lines(scheme: str) -> str:
    names = ENV_SECRETS.get(scheme, ())
    if scheme in ("https", "webdavs"):
        names = ("DVC_REMOTE_USER",)
    if not names:
        return ""
    lines = ["      # DVC remote credentials, from repository secrets"]
    lines += [f"      {n}: ${{{{ secrets.{n} }}}}" for n in names]
    return "\n".join(lines)


def _config_step(scheme: str) -> str:
    if scheme not in CONFIG_STEPS:
        return ""
    title, secret, script = CONFIG_STEPS[scheme]
    body = "\n".join(f"          {line}" for line in script.splitlines())
    return (
        f"      - name: {title}\n"
        f"        run: |\n{body}\n"
        f"        env:\n"
        f"          {secret}: ${{{{ secrets.{secret} }}}}\n"
    )


def _drop_empty_env(text: str) -> str:
    """Remove an ``env:`` key left with nothing under it (remotes needing no secrets)."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.strip() == "env:" and i + 1 < len(lines):
            indent = len(line) - len(line.lstrip())
            nxt = lines[i + 1]
            if len(nxt) - len(nxt.lstrip()) <= indent:
                continue
        out.append(line)
    return "\n".join(out) + "\n"


def setup_steps(remote_url: str | None) -> list[str]:
    """What to set on GitHub so the workflows can reach the DVC remote."""
    scheme = remote_scheme(remote_url)
    secrets = list(ENV_SECRETS.get(scheme, ()))
    if scheme in CONFIG_STEPS:
        secrets = (["DVC_REMOTE_USER"] if scheme in ("https", "webdavs") else []) + [
            CONFIG_STEPS[scheme][1]
        ]
    if scheme == "local":
        return [
            "GitHub: the DVC remote is a folder on this machine; set the repository variable "
            "DVC_REMOTE_URL to a remote CI can reach (and its credentials as secrets)"
        ]
    if secrets:
        return [f"GitHub: add the repository secrets {', '.join(secrets)} (DVC remote access)"]
    return []
