"""RealGen stage-2 Flow-GRPO trainer in PyTorch (realgen-trainer/1 protocol)."""
