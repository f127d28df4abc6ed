"""Running participants' algorithms, with no Django: the container runtime interface (Docker, and an
in-process fake for tests), the sandbox, the I/O contract of ``/input`` and ``/output``, the worker-side job
runner, the image checks, the participant SDK and the reference algorithms."""
