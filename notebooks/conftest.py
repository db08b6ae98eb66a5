"""Which notebooks CI runs: all of them. nbval runs each cell in order (outputs are not stored,
so nothing is compared); the notebooks prove their results with assert cells."""

import os

# Notebooks open captures by paths relative to this folder.
os.chdir(os.path.dirname(os.path.abspath(__file__)))
