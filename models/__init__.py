"""Analysis cores: motion, video quality, inference. Pure numpy/OpenCV; no I/O."""
