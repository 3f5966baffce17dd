"""Base images that lockgate builds locally, without pulling from a container registry.

``bootstrap`` turns a Debian suite into an engine image with debootstrap; ``apt_sources`` finds
the Debian mirror the machine already uses, so the image fetches packages from the same place.
"""
