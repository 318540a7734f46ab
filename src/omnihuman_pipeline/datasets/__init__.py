"""Custom Kedro datasets: only what kedro-datasets lacks."""
