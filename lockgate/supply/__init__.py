"""Supply chain: scan gate, signatures and attestations, and verification of model images.

Every module here talks to real tools (trivy, cosign) and a real OCI registry; each one holds
one idea. Nothing heavy is imported at package import time.
"""
