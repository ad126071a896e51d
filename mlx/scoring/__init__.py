"""Offline scoring with the served ONNX model: ``chunks`` scores in-memory tables (and
collects bad rows), ``files`` streams CSV/Parquet files through it in chunks. Online
serving with dynamic batching is :mod:`mlx.serve`; the Dask runner scores partitions
with the same :func:`mlx.scoring.chunks.score_chunk`."""
