# Calibration of designs whose weights come from their FPC (no weight column),
# as R's svydesign(fpc=) builds them: raking, linear and logit calibrate().
# Usage: Rscript tests/reference/make_calibration_fpc_reference.R tests/reference
# Reads api/*.csv (written by make_api_reference.R) and writes calibration_fpc_reference.json.
suppressMessages({library(survey); library(jsonlite)})
out <- commandArgs(trailingOnly = TRUE)[1]
rd <- function(nm) read.csv(file.path(out, "api", paste0(nm, ".csv")), stringsAsFactors = FALSE)
apipop <- rd("apipop"); apistrat <- rd("apistrat"); apiclus1 <- rd("apiclus1"); apiclus2 <- rd("apiclus2")
designs <- list(
  strat = svydesign(id = ~1, strata = ~stype, fpc = ~fpc, data = apistrat),
  clus1 = svydesign(id = ~dnum, fpc = ~fpc, data = apiclus1),
  clus2 = svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
)
N <- nrow(apipop)
pop <- c(`(Intercept)` = N, stypeH = sum(apipop$stype == "H"), stypeM = sum(apipop$stype == "M"),
         api99 = sum(apipop$api99))
calls <- list(
  raking = function(d) calibrate(d, ~stype + api99, pop, calfun = "raking", epsilon = 1e-13, maxit = 200),
  linear = function(d) calibrate(d, ~stype + api99, pop, calfun = "linear"),
  logit = function(d) calibrate(d, ~stype + api99, pop, calfun = "logit", bounds = c(0.5, 2.5),
                                epsilon = 1e-13, maxit = 200)
)
ref <- list()
for (dn in names(designs)) {
  d <- designs[[dn]]
  ref[[paste0(dn, "_design_weights")]] <- list(weights = unname(weights(d)))
  for (cn in names(calls)) {
    dc <- calls[[cn]](d)
    m <- svymean(~api00 + sch.wide, dc)
    t <- svytotal(~api00, dc)
    ref[[paste0(dn, "_", cn)]] <- list(weights = unname(weights(dc)),
      mean_api00_schwide = unname(coef(m)), se_mean_api00_schwide = unname(SE(m)),
      total_api00 = unname(coef(t)), se_total_api00 = unname(SE(t)))
  }
}
ref[["_about"]] <- list(
  source = paste("R", R.version$major, R.version$minor, "survey", as.character(packageVersion("survey"))),
  designs = list(strat = "svydesign(id=~1, strata=~stype, fpc=~fpc, data=apistrat)",
                 clus1 = "svydesign(id=~dnum, fpc=~fpc, data=apiclus1)",
                 clus2 = "svydesign(id=~dnum+snum, fpc=~fpc1+fpc2, data=apiclus2)"),
  calibration = list(formula = "~stype + api99", totals = as.list(pop),
                     raking = "calfun='raking', epsilon=1e-13", linear = "calfun='linear'",
                     logit = "calfun='logit', bounds=c(0.5, 2.5), epsilon=1e-13"),
  note = "no weight column: every design's weights come from its FPC (N_h/n_h, times N_2/n_2 for clus2)")
writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(out, "calibration_fpc_reference.json"))
