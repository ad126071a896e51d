"""Adapters: the only modules that talk to git (``git``) and DVC (``dvc``)."""
