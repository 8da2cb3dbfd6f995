# Reference values for the calibration to administrative totals (linked holders of a right):
# calibrate() a stratified design to the recipients per stratum and the linked holders by QPV,
# then the take-up ratio (takers / eligibles) by svyratio, nationally and by QPV (svyby), with the
# residual-based linearisation of calibrated designs. Raking and linear calibration.
# Run from tests/reference: python make_holders_data.py && Rscript make_holders_reference.R
# (writes holders_reference.json)
suppressMessages({library(survey); library(jsonlite)})
s <- read.csv("holders_sample.csv", colClasses = c(id = "character", stratum = "character", linked_cmuc = "character"))
tt <- read.csv("holders_totals.csv", colClasses = c(variable = "character", category = "character"))
s$stratum <- factor(s$stratum, levels = tt$category[tt$variable == "stratum"])
s$linked_cmuc <- factor(s$linked_cmuc, levels = tt$category[tt$variable == "linked_cmuc"])
s$taker <- ifelse(is.na(s$cmuc), 0, s$cmuc)
s$eligible <- as.numeric(!is.na(s$cmuc))
des <- svydesign(ids = ~1, strata = ~stratum, fpc = ~fpc, weights = ~weight, data = s)
st <- tt[tt$variable == "stratum", ]; lk <- tt[tt$variable == "linked_cmuc", ]
# model matrix of ~stratum + linked_cmuc: intercept, strata but the first, linked levels but the first
pop <- c(sum(st$total), st$total[-1], lk$total[-1])
out <- list(meta = list(R = R.version.string, survey = as.character(packageVersion("survey")),
                        design = "ids=~1, strata=~stratum, fpc=~fpc, weights=~weight",
                        calibration = "calibrate(des, ~stratum + linked_cmuc, pop, calfun=, epsilon=1e-13, maxit=200)",
                        ratio = "svyratio(~taker, ~eligible); svyby(~taker, ~is_qpv, denominator=~eligible, svyratio)"))
rows <- list()
for (calfun in c("none", "raking", "linear")) {
  d <- if (calfun == "none") des else calibrate(des, ~stratum + linked_cmuc, pop, calfun = calfun,
                                                epsilon = 1e-13, maxit = 200)
  r <- svyratio(~taker, ~eligible, d)
  rows[[length(rows) + 1]] <- list(calfun = calfun, domain = "national", estimate = unname(coef(r)),
                                   se = unname(SE(r)))
  b <- svyby(~taker, ~is_qpv, d, svyratio, denominator = ~eligible)
  for (k in seq_len(nrow(b))) {
    rows[[length(rows) + 1]] <- list(calfun = calfun, domain = as.character(b$is_qpv[k]),
                                     estimate = unname(coef(b)[k]), se = unname(SE(b)[k]))
  }
  out[[paste0("weights_", calfun)]] <- unname(weights(d))
}
out$rows <- rows
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE), "holders_reference.json")
