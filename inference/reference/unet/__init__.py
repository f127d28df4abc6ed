"""Reference algorithm ``unet-ensemble``: a majority vote of small 3D U-Nets, in the spirit of DeepISLES.

``model`` holds the network, ``ensemble`` the sliding-window, flip-averaged inference and the vote,
``predict`` the container entry point (``python -m inference.reference.unet``); ``python -m
inference.train`` trains the members on an ISLES'24 release.
"""
