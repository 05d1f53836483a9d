"""Optional features, loaded by the feature manager from feature_flags.yaml."""
