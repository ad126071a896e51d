"""mlops.yaml templates written by `mlx init`."""
