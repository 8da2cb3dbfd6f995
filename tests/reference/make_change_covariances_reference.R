# Reference values for nonrecours.estimation.covariances.change_covariances (issue 26, item 1): the joint
# covariance of the take-up rates of cmuc and acs in both waves of the panel change_panel_wave{1,2}.csv, per
# is_qpv domain, by R survey on the STACKED waves exactly as make_change_reference.R (one design on the wide
# file: wave-2 strata and sampling fractions, weights w1, the wave-2 totals written with the factor w2 / w1),
# then svytotal + svycontrast of the four ratios (delta method) and vcov.
# Run from tests/reference: Rscript make_change_covariances_reference.R  (writes change_covariances_reference.json)
suppressMessages({library(survey); library(jsonlite)})
w1 <- read.csv("change_panel_wave1.csv", colClasses = c(id = "character", stratum = "character"))
w2 <- read.csv("change_panel_wave2.csv", colClasses = c(id = "character", stratum = "character"))
wide <- merge(w1, w2, by = "id", suffixes = c("_1", "_2"))
wide$frac <- ave(rep(1, nrow(wide)), wide$stratum_2, FUN = sum) / wide$fpc_2  # wave-2 sampling fraction
wide$r <- wide$weight_2 / wide$weight_1
des <- svydesign(ids = ~1, strata = ~stratum_2, fpc = ~frac, weights = ~weight_1, data = wide)
out <- list(meta = list(R = R.version.string, survey = as.character(packageVersion("survey")),
                        design = "ids=~1, strata=~stratum_2, fpc=~frac (wave-2 fraction), weights=~weight_1",
                        years = "wave 1 = 2015, wave 2 = 2016"))
rows <- list()
rights <- c("cmuc", "acs")
for (dom in c("0", "1")) {
  vars <- list(); exprs <- list()
  for (w in 1:2) for (right in rights) {
    y <- wide[[paste0(right, "_", w)]]; e <- !is.na(y)
    inside <- as.numeric(wide[[paste0("is_qpv_", w)]] == as.integer(dom))
    f <- if (w == 2) wide$r else 1
    nm <- paste0(right, "_", w)
    vars[[paste0("N_", nm)]] <- ifelse(e, y, 0) * inside * f
    vars[[paste0("D_", nm)]] <- e * inside * f
    exprs[[nm]] <- parse(text = paste0("N_", nm, " / D_", nm))[[1]]
  }
  des2 <- do.call(update, c(list(des), vars))
  tot <- svytotal(as.formula(paste("~", paste(names(vars), collapse = " + "))), des2)
  V <- vcov(svycontrast(tot, exprs))
  keys <- names(exprs)
  for (a in seq_along(keys)) for (b in seq_along(keys)) if (a < b) {
    pa <- strsplit(keys[a], "_")[[1]]; pb <- strsplit(keys[b], "_")[[1]]
    rows[[length(rows) + 1]] <- list(is_qpv = as.integer(dom), right_a = pa[1], year_a = 2014 + as.integer(pa[2]),
                                     right_b = pb[1], year_b = 2014 + as.integer(pb[2]), cov = V[keys[a], keys[b]])
  }
}
out$pairs <- rows
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "change_covariances_reference.json")
