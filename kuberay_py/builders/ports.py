"""The ports Ray listens on, by the names the head Service and users know them by."""

from typing import Final

GCS_PORT_NAME: Final = "gcs-server"
DASHBOARD_PORT_NAME: Final = "dashboard"
CLIENT_PORT_NAME: Final = "client"
METRICS_PORT_NAME: Final = "metrics"
SERVE_PORT_NAME: Final = "serve"

GCS_PORT: Final = 6379
DASHBOARD_PORT: Final = 8265
CLIENT_PORT: Final = 10001
METRICS_PORT: Final = 8080
SERVE_PORT: Final = 8000
# The dashboard agent of every Ray node; the probes ask it whether the node is healthy.
DASHBOARD_AGENT_PORT: Final = 52365

# The head Service's ports when the head container declares none, in this order.
DEFAULT_HEAD_PORTS: Final[tuple[tuple[str, int], ...]] = (
    (GCS_PORT_NAME, GCS_PORT),
    (DASHBOARD_PORT_NAME, DASHBOARD_PORT),
    (CLIENT_PORT_NAME, CLIENT_PORT),
    (METRICS_PORT_NAME, METRICS_PORT),
    (SERVE_PORT_NAME, SERVE_PORT),
)
