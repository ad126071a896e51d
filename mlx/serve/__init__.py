"""``mlx serve``: the onnxruntime server and batch scorer.

Process layout (see docs/serving.md): the CLI resolves and verifies the model (it may
import DVC and git for that), writes a :class:`~mlx.serve.spec.ServeSpec`, then becomes
the lean supervisor (:mod:`mlx.serve.supervisor`), which starts worker processes
(:mod:`mlx.serve.worker`). Workers import only numpy, onnxruntime, the HTTP stack
(uvloop, httptools, orjson) and, for prediction logs, pyarrow; never pandas, lightgbm,
sklearn, DVC or pydantic, and never pickle.

Nothing in this package imports a heavy library at module level.
"""
