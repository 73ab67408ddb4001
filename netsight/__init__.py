"""NetSight: a Kubernetes cluster's network, named as people think of it."""

__version__ = "0.1.0"
