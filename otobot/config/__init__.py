"""Configuration: YAML to frozen dataclasses, the safe YAML reader, and what a reload changed."""
