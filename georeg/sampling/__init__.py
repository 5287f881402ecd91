"""Spatially balanced sampling on a frame of points: GRTS (as spsurvey 5.x), LPM2, SRS.

Pure numpy, with numba for the loops (pivotal method, LPM2's k-d tree, nearest points); no
database. Plans
(the package georeg/sampling/plans/) and `georeg sample` build on `select`, `Selection`,
`pielou_balance`, `srs_balance_mean` and `SamplingError`: keep their signatures.
"""

from georeg.sampling.balance import pielou_balance, srs_balance_mean
from georeg.sampling.design import METHOD_LABELS, METHODS, Selection, select
from georeg.sampling.probabilities import SamplingError, allocate, inclusion_probabilities

__all__ = ["METHODS", "METHOD_LABELS", "SamplingError", "Selection", "allocate",
           "inclusion_probabilities", "pielou_balance", "select", "srs_balance_mean"]
