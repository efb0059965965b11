"""The Python interface: the typed ``Client``, the notebook API and the remote backend."""
