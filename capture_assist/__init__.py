"""capture-assist: tethered capture for AI training datasets."""

__version__ = "0.1.0"
