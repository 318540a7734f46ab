"""The Principle 1 / Principle 2 ablations (paper Table 1): variants from parameters, one table each."""
