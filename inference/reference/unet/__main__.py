"""``python -m inference.reference.unet``: the container's entry point (see ``predict``)."""

from inference.reference.unet.predict import main

raise SystemExit(main())
