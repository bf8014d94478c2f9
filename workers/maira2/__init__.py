"""The MAIRA-2 runner: our transformers-5.x model, prompts, images, layer capture, steering."""
