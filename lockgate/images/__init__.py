"""Runner and base images: built locally, so no container registry is needed."""
