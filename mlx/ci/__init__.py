"""Where ML engineers already work: GitHub Actions workflows and git hooks."""
