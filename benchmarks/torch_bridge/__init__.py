"""torch_bridge benchmark: from-scratch and fine-tuning comparisons (``python -m benchmarks.torch_bridge.run``)."""
