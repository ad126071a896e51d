from tests.monitor.conftest import monitored  # noqa: F401  (the monitoring fixture)
