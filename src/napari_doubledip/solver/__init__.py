"""Pure-torch Double-DIP solver: networks, losses, filters, augmentation and the one optimisation loop.

Nothing under this package imports napari or Qt.
"""
