"""Supply-chain simulator with ground truth: legitimate flows and labelled fraud, by seed."""
