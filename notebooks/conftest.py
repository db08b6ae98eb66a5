"""Which notebooks CI runs: every ``*.ipynb`` here. nbval (``--nbval-lax`` in pyproject.toml) runs each
cell in order in a kernel started in this folder, so notebooks open captures as ``../captures/...``.
Outputs are not stored, so nothing is compared: the notebooks prove their results with assert cells."""

collect_ignore_glob = [".ipynb_checkpoints/*"]
