"""Importing released DeepLab weights (TF1 checkpoints, model-zoo tarballs, float .tflite) into Keras models."""
