"""The plan: YAML shot list -> validated model -> setups and takes (pure)."""
