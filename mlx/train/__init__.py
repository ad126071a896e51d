"""Training: features, split, LightGBM fit, ONNX export, parity, the stage and its pipeline."""
