"""Reference algorithms that honour the container contract, each runnable as ``python -m``."""
