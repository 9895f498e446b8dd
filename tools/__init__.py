"""The OS tools the model may call: plain typed functions, one module per area."""
