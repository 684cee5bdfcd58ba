"""Benchmarks of the clipstyler library (no ComfyUI needed):
`python -m bench {optimize,apply,reference,pairs,profile,flops}`.

Each prints a table and, as its last line, one JSON object with the figures, the settings and the environment.
"""
