"""The science core in plain torch: SAE checkpoints, encoding, training, feature statistics."""
