# Reference values for nonrecours.estimation.change: change of domain take-up rates between
# two waves of a panel, computed with R survey on the STACKED waves, i.e. one design on the
# wide file holding both waves' indicators (wave-2 strata and sampling fractions; weights w1,
# the wave-2 totals written with the factor w2 / w1), then svytotal + svycontrast (delta method).
# Run from tests/reference: Rscript make_change_reference.R  (writes change_panel_reference.json)
suppressMessages({library(survey); library(jsonlite)})
w1 <- read.csv("change_panel_wave1.csv", colClasses = c(id = "character", stratum = "character"))
w2 <- read.csv("change_panel_wave2.csv", colClasses = c(id = "character", stratum = "character"))
wide <- merge(w1, w2, by = "id", suffixes = c("_1", "_2"))
wide$frac <- ave(rep(1, nrow(wide)), wide$stratum_2, FUN = sum) / wide$fpc_2  # wave-2 sampling fraction
wide$r <- wide$weight_2 / wide$weight_1
des <- svydesign(ids = ~1, strata = ~stratum_2, fpc = ~frac, weights = ~weight_1, data = wide)
out <- list(meta = list(R = R.version.string, survey = as.character(packageVersion("survey")),
                        design = "ids=~1, strata=~stratum_2, fpc=~frac (wave-2 fraction), weights=~weight_1"))
rows <- list()
for (right in c("cmuc", "acs")) {
  for (dom in c("all", "0", "1")) {
    in1 <- if (dom == "all") rep(1, nrow(wide)) else as.numeric(wide$is_qpv_1 == as.integer(dom))
    in2 <- if (dom == "all") rep(1, nrow(wide)) else as.numeric(wide$is_qpv_2 == as.integer(dom))
    y1 <- wide[[paste0(right, "_1")]]; y2 <- wide[[paste0(right, "_2")]]
    e1 <- !is.na(y1); e2 <- !is.na(y2)
    des2 <- update(des, N1 = ifelse(e1, y1, 0) * in1, D1 = e1 * in1,
                   N2 = ifelse(e2, y2, 0) * in2 * r, D2 = e2 * in2 * r)
    tot <- svytotal(~N1 + D1 + N2 + D2, des2)
    ch <- svycontrast(tot, list(change = quote(N2 / D2 - N1 / D1), p1 = quote(N1 / D1), p2 = quote(N2 / D2)))
    V <- vcov(ch)
    rows[[length(rows) + 1]] <- list(right = right, domain = dom, estimate_1 = unname(coef(ch)["p1"]),
      estimate_2 = unname(coef(ch)["p2"]), change = unname(coef(ch)["change"]), se = sqrt(V["change", "change"]),
      se_1 = sqrt(V["p1", "p1"]), se_2 = sqrt(V["p2", "p2"]), cov_12 = V["p1", "p2"])
  }
}
out$results <- rows
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "change_panel_reference.json")
