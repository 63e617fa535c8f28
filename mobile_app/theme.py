"""Colours (RGBA). Dark text on light grey, white on saturated fills: contrast >= 7:1."""

INK = (0.07, 0.07, 0.07, 1)
PAPER = (1, 1, 1, 1)
PRIMARY = (0.05, 0.28, 0.63, 1)
DANGER = (0.72, 0.11, 0.11, 1)
WARNING = (0.62, 0.30, 0.0, 1)
OK = (0.0, 0.42, 0.16, 1)
MUTED = (0.30, 0.30, 0.30, 1)
