"""mlx: Git-native MLOps for tabular models.

The package is split in layers: ``mlx.cli`` (argument parsing and rendering only),
``mlx.api`` (the Python façade a notebook or CI script calls), core packages by concern
(``config``, ``data``, ``train``, ``evaluate``, ``registry``, ``serve``, ``monitor``,
``runners``) and thin adapters for git and DVC in ``mlx.adapters``.
Importing ``mlx`` itself is cheap: nothing heavy is imported here.
"""

__version__ = "0.1.0"
