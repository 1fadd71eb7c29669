"""A small, real CPU workload for `make demo`: repeated matrix products with numpy."""

import time

import numpy as np

rng = np.random.default_rng(0)
a = rng.standard_normal((400, 400))
deadline = time.monotonic() + 5.0
products = 0
while time.monotonic() < deadline:
    a = np.tanh(a @ a.T / 400.0)
    products += 1
print(f"demo workload: {products} matrix products of 400x400 in 5 s")
