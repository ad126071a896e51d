"""Writing to a path that is not a regular file (a FIFO here; /dev/null in real use)
writes into it and never renames a file over it."""

from __future__ import annotations

import os
import stat
import threading


def test_an_atomic_write_into_a_fifo_keeps_the_fifo(tmp_path):
    from mlx.util.atomic import write_text

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    write_text(fifo, "summary\n")
    reader.join(timeout=30)
    assert got == ["summary\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the FIFO, not a file put over it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temp left beside it
