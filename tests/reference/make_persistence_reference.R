# Reference values for nonrecours.estimation.persistence: persistent and transient non-take-up among
# the panel's recipients eligible in both waves, as ratio estimators on the later wave's design
# (strata, FPC and weights of wave 2) over the wide file of the balanced panel written by
# make_change_panel_data.py. svyratio(~u, ~e) with e = eligible in both waves and u = e x indicator;
# by domain svyby(~u, ~is_qpv_2, denominator = ~e, svyratio); the joint covariance of two indicators by
# svyratio(~u1 + u2, ~e, covmat = TRUE).
# Run from tests/reference: Rscript make_persistence_reference.R  (writes persistence_reference.json)
suppressMessages({library(survey); library(jsonlite)})
w1 <- read.csv("change_panel_wave1.csv", colClasses = c(id = "character", stratum = "character"))
w2 <- read.csv("change_panel_wave2.csv", colClasses = c(id = "character", stratum = "character"))
wide <- merge(w1, w2, by = "id", suffixes = c("_1", "_2"))
out <- list(meta = list(R = R.version.string, survey = as.character(packageVersion("survey")),
                        design = "ids=~1, strata=~stratum_2, fpc=~fpc_2, weights=~weight_2 (the later wave's)",
                        ratio = "svyratio(~u, ~e); svyby(~u, ~is_qpv_2, denominator=~e, svyratio)"))
rows <- list()
for (right in c("cmuc", "acs")) {
  y1 <- wide[[paste0(right, "_1")]]; y2 <- wide[[paste0(right, "_2")]]
  e <- as.numeric(!is.na(y1) & !is.na(y2))
  a <- ifelse(is.na(y1), 0, y1); b <- ifelse(is.na(y2), 0, y2)
  ind <- list(persistent = (1 - a) * (1 - b), transient = (1 - a) * b + a * (1 - b), either = 1 - a * b,
              entries = a * (1 - b), exits = (1 - a) * b)
  for (nm in names(ind)) wide[[nm]] <- e * ind[[nm]]
  wide$e <- e
  des <- svydesign(ids = ~1, strata = ~stratum_2, fpc = ~fpc_2, weights = ~weight_2, data = wide)
  for (nm in names(ind)) {
    f <- as.formula(paste0("~", nm))
    r <- svyratio(f, ~e, des)
    rows[[length(rows) + 1]] <- list(right = right, indicator = nm, domain = "all", estimate = unname(coef(r)),
                                     se = unname(SE(r)))
    b2 <- svyby(f, ~is_qpv_2, des, svyratio, denominator = ~e)
    for (k in seq_len(nrow(b2))) {
      rows[[length(rows) + 1]] <- list(right = right, indicator = nm, domain = as.character(b2$is_qpv_2[k]),
                                       estimate = unname(coef(b2)[k]), se = unname(SE(b2)[k]))
    }
  }
  j <- svyratio(~persistent + entries, ~e, des, covmat = TRUE)
  out[[paste0("cov_persistent_entries_", right)]] <- unname(vcov(j)[1, 2])
}
out$rows <- rows
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE), "persistence_reference.json")
