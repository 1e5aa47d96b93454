"""Benchmarks: each module here has ``main()`` (sync or async) that prints figures. `make bench`."""
