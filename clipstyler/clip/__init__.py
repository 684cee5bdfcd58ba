"""CLIP for CLIPstyler: the one part of the library that depends on open_clip, and on its internals.

- model.py: StylerCLIP, a frozen image+text CLIP with the preprocessing CLIPstyler feeds it, and the global view.
- loading.py: open_clip pretrained tags (downloaded into a cache) and local checkpoint files.
- speedups.py, text_truncation.py: exact speed-ups that follow open_clip's internals, each guarded by what it
  checks in the model and falling back to open_clip's plain call where the internals differ.
"""
