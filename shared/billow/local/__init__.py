"""The embedded local stack: AWS emulator, in-process Lambda hook, provisioning from template.yaml, ticker."""
