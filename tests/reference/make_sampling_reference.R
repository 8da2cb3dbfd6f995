# Reference values for tests/test_selection.py, from R's sampling package.
# Run from the repository root:
#   Rscript tests/reference/make_sampling_reference.R
# writes tests/reference/sampling_reference.json (15 significant digits).
suppressPackageStartupMessages(library(sampling))
library(jsonlite)

# PPS inclusion probabilities with certainty units (iterated capping at 1)
size_a <- c(1, 2, 3, 4, 5, 6, 7, 8, 9, 50, 100, 0.5)
pik_a <- inclusionprobabilities(size_a, 5)

# Sampford joint inclusion probabilities: N = 8, n = 3 and N = 6, n = 2
size_b <- c(3, 7, 1, 4, 9, 2, 5, 6)
pik_b <- inclusionprobabilities(size_b, 3)
pi2_b <- UPsampfordpi2(pik_b)
size_c <- c(10, 4, 6, 1, 8, 3)
pik_c <- inclusionprobabilities(size_c, 2)
pi2_c <- UPsampfordpi2(pik_c)
# a larger case, N = 30, n = 7
size_d <- (1:30)^0.8
pik_d <- inclusionprobabilities(size_d, 7)
pi2_d <- UPsampfordpi2(pik_d)

out <- list(
  `_about` = list(
    script = "tests/reference/make_sampling_reference.R",
    R = R.version.string,
    sampling = as.character(packageVersion("sampling")),
    functions = "sampling::inclusionprobabilities, sampling::UPsampfordpi2"
  ),
  inclusion_probabilities = list(size = size_a, n = 5, pik = pik_a),
  sampford_small = list(size = size_b, n = 3, pik = pik_b, pi2 = pi2_b),
  sampford_pair = list(size = size_c, n = 2, pik = pik_c, pi2 = pi2_c),
  sampford_30 = list(size = size_d, n = 7, pik = pik_d, pi2 = pi2_d)
)
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE, matrix = "rowmajor"),
           "tests/reference/sampling_reference.json")
