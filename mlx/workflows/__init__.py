"""Orchestration: the workflows that run stages (train, evaluate, retrain) in order,
on a runner, and record what they did in Git. Stages never import from here."""
