"""Benchmarks run by ``attnlab bench``: ratios measured in one run on the machine at hand."""
