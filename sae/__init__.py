"""The science core in plain torch: SAE checkpoints, encode/decode, training, streaming statistics."""
