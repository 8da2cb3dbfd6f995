# Reference values for tests/test_calibration.py and tests/test_replicates.py
# (weighting beyond ../../shared/reference/api_reference.json).
# Run: Rscript tests/reference/make_weighting_reference.R tests/reference/weighting_reference.json
suppressMessages({library(survey); library(jsonlite)})
out <- commandArgs(trailingOnly = TRUE)[1]
data(api)
for (v in c("sch.wide", "awards")) {
  apistrat[[v]] <- as.integer(apistrat[[v]] == "Yes"); apipop[[v]] <- as.integer(apipop[[v]] == "Yes")
}
ref <- list()
add <- function(key, m, extra = list()) ref[[key]] <<- c(list(estimate = unname(as.numeric(coef(m))), se = unname(as.numeric(SE(m)))), extra)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
pop.totals <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = sum(apipop$api99))
pop.rk <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, sch.wide = sum(apipop$sch.wide))
# truncated linear calibration (bounds bind)
dtr <- calibrate(dstrat, ~stype + api99, pop.totals, calfun = "linear", bounds = c(0.97, 1.035), epsilon = 1e-12, maxit = 200)
add("strat_calib_truncated_0.97_1.035_mean_api00_awards", svymean(~api00 + awards, dtr),
    list(weights_first5 = unname(weights(dtr)[1:5]), g_range = range(weights(dtr) / weights(dstrat))))
# bounded raking
dbr <- calibrate(dstrat, ~stype + api99, pop.totals, calfun = "raking", bounds = c(0.97, 1.035), epsilon = 1e-12, maxit = 200)
add("strat_calib_raking_0.97_1.035_mean_api00_awards", svymean(~api00 + awards, dbr),
    list(weights_first5 = unname(weights(dbr)[1:5])))
# replicate design re-calibrated replicate by replicate (R's calibrate.svyrep.design)
rstrat <- as.svrepdesign(dstrat, type = "JKn")
rcal <- calibrate(rstrat, ~stype + sch.wide, pop.rk, calfun = "raking", epsilon = 1e-12)
add("strat_jkn_calib_raking_stype_schwide_mean_api00_awards", svymean(~api00 + awards, rcal))
rlin <- calibrate(rstrat, ~stype + api99, pop.totals, calfun = "logit", bounds = c(0.7, 1.7), epsilon = 1e-12)
add("strat_jkn_calib_logit_0.7_1.7_mean_api00_awards", svymean(~api00 + awards, rlin))
# BRR on a design with two PSUs per stratum: first 2 x 20 rows of apistrat paired into strata
pairs <- apistrat[order(apistrat$snum), ][1:40, ]
pairs$pair <- rep(1:20, each = 2)
dpair <- svydesign(id = ~1, strata = ~pair, weights = ~pw, data = pairs)
m <- svytotal(~api00, dpair); add("pairs_taylor_total_api00", m)
for (rho in c(0, 0.5)) {
  rb <- as.svrepdesign(dpair, type = if (rho == 0) "BRR" else "Fay", fay.rho = rho)
  add(paste0("pairs_", if (rho == 0) "brr" else "fay0.5", "_total_api00"), svytotal(~api00, rb))
}
ref[["_about"]] <- list(source = paste("R", R.version$major, R.version$minor, "survey", as.character(packageVersion("survey"))),
  note = "apistrat/apipop from survey::api; sch.wide and awards are 1 for 'Yes'; pairs = first 40 rows of apistrat by snum, strata of 2 consecutive rows")
writeLines(toJSON(ref, auto_unbox = TRUE, digits = 15, pretty = TRUE), out)
