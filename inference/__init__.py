"""The container runtime, the worker-side job runner and the reference algorithms: no Django."""
