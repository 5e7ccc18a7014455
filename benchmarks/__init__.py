"""Benchmarks of the operator against the local control plane with the simulated kubelet.

Run ``python -m benchmarks`` (or ``make bench``) for the full suite, ``--quick`` for a CI-sized one. Every
scenario gets a fresh control plane and a fresh operator process, so no scenario inherits another's load,
cache or memory. Results are printed as markdown tables and written as JSON with the machine's description.
"""
