# Reference values for nonrecours.estimation.covariances (issue 26, item 1): the design-based covariances
# between the take-up rates of three rights within each territory, from R survey on covariances/sample.csv
# (written by make_covariances_data.py, seed 2626). Each rate is the ratio N_tr / D_tr of the weighted takers
# and eligible respondents of right r in territory t (domains as zero weights: the variables are 0 outside
# the territory and for the not eligible); svytotal gives the joint covariance of all 48 totals and
# svycontrast the delta-method (linearised) covariance of the 24 ratios.
# Run from tests/reference: Rscript make_covariances_reference.R  (writes covariances_reference.json)
suppressMessages({library(survey); library(jsonlite)})
d <- read.csv("covariances/sample.csv", colClasses = c(territory = "character", stratum = "character",
                                                       psu = "character"))
rights <- c("cmuc", "acs", "aah")
terrs <- sort(unique(d$territory))
exprs <- list(); vars <- c()
for (t in terrs) for (r in rights) {
  e <- !is.na(d[[r]]); inside <- d$territory == t
  n <- paste0("N_", t, "_", r); dn <- paste0("D_", t, "_", r)
  d[[n]] <- ifelse(e, d[[r]], 0) * inside
  d[[dn]] <- e * inside
  vars <- c(vars, n, dn)
  exprs[[paste0(t, ":", r)]] <- parse(text = paste0(n, " / ", dn))[[1]]
}
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, data = d, nest = TRUE)
tot <- svytotal(as.formula(paste("~", paste(vars, collapse = " + "))), des)
rat <- svycontrast(tot, exprs)
V <- vcov(rat)
rows <- list()
for (t in terrs) for (a in seq_along(rights)) for (b in seq_along(rights)) {
  if (a <= b) {
    ka <- paste0(t, ":", rights[a]); kb <- paste0(t, ":", rights[b])
    rows[[length(rows) + 1]] <- list(territory = t, right_a = rights[a], right_b = rights[b], cov = V[ka, kb])
  }
}
out <- list(meta = list(R = R.version.string, survey = as.character(packageVersion("survey")),
                        design = "ids=~psu, strata=~stratum, weights=~weight, nest=TRUE",
                        estimates = "svycontrast(svytotal(N_tr, D_tr), N_tr / D_tr), vcov"),
            estimates = as.list(coef(rat)), pairs = rows)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "covariances_reference.json")
