"""Saving and loading trained models: safetensors weights with a validated JSON sidecar."""
