"""capture-assist: tethered capture for AI training datasets."""

import warnings

__version__ = "0.1.0"

# colour-science warns at import that matplotlib (plotting only) is absent; the
# app never plots with it, and the warning would scare a crew on every start.
warnings.filterwarnings("ignore", message='"Matplotlib" related API features are not available')
