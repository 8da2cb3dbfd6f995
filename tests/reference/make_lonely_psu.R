# Reference values for nonrecours' lonely-PSU rules, domain x multistage designs and domain df.
# Run from the repository root:  Rscript tests/reference/make_lonely_psu.R
# Reads ../shared/reference/api/*.csv (R survey's api data exported by make_api_reference.R)
# and writes tests/reference/lonely_psu.json (15 significant digits).
suppressMessages({library(survey); library(jsonlite)})
api <- "../shared/reference/api"
strat <- read.csv(file.path(api, "apistrat.csv"), colClasses = c(stype = "character"))
clus1 <- read.csv(file.path(api, "apiclus1.csv"), colClasses = c(stype = "character"))
clus2 <- read.csv(file.path(api, "apiclus2.csv"), colClasses = c(stype = "character"))

# 1. stratified element sample with three single-row strata (lonely PSUs, f > 0)
strat$h <- strat$stype
strat$h[c(1, 101, 151)] <- c("L1", "L2", "L3")
strat$fpc_h <- ifelse(strat$h %in% c("L1", "L2", "L3"), 10, strat$fpc)
# 2. one-stage cluster sample, districts grouped in strata of 1, 2, 3, 4 and 5 districts
d <- sort(unique(clus1$dnum))
clus1$h <- paste0("G", findInterval(match(clus1$dnum, d), c(1, 2, 4, 7, 11)))
clus1$fpc_h <- 100
# 3. two-stage sample whose one-school districts are not census at stage 2 (lonely SSUs)
n2 <- ave(clus2$snum, clus2$dnum, FUN = length)
clus2$fpc2b <- ifelse(n2 == 1, 5, clus2$fpc2)

out <- list()
rules <- c("remove", "adjust", "average", "certainty")
for (rule in rules) {
  options(survey.lonely.psu = rule)
  ds <- svydesign(id = ~1, strata = ~h, weights = ~pw, fpc = ~fpc_h, data = strat)
  dc <- svydesign(id = ~dnum, strata = ~h, weights = ~pw, fpc = ~fpc_h, data = clus1)
  d2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2b, weights = ~pw, data = clus2)
  for (nm in c("strat", "clus1", "clus2")) {
    des <- switch(nm, strat = ds, clus1 = dc, clus2 = d2)
    m <- svymean(~api00 + sch.wide, des)
    b <- svyby(~sch.wide, ~stype, des, svymean)
    out[[paste(nm, rule, sep = "_")]] <- list(
      mean_estimate = unname(coef(m)), mean_se = unname(SE(m)),
      by_domain = as.character(b$stype), by_estimate = unname(b$sch.wide), by_se = unname(b$se))
  }
}
options(survey.lonely.psu = "fail")
ds <- svydesign(id = ~1, strata = ~h, weights = ~pw, fpc = ~fpc_h, data = strat)
out[["strat_fail_error"]] <- list(message = tryCatch({svymean(~api00, ds); ""}, error = function(e) conditionMessage(e)))

# 4. domains x two-stage design (R's svyby) with design effects and the subset df
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = clus2)
b <- svyby(~sch.wide + api00, ~stype, dclus2, svymean, deff = TRUE)
dfs <- sapply(b$stype, function(s) degf(subset(dclus2, stype == s)))
out[["clus2_by_stype"]] <- list(domain = as.character(b$stype), schwide = b$sch.wide, schwide_se = b$se.sch.wide,
                                api00 = b$api00, api00_se = b$se.api00, schwide_deff = b$DEff.sch.wide,
                                api00_deff = b$DEff.api00, df = unname(dfs))
tot <- svyby(~enroll, ~stype, dclus2, svytotal, deff = TRUE, na.rm = TRUE)
out[["clus2_by_stype_total_enroll"]] <- list(domain = as.character(tot$stype), estimate = tot$enroll, se = tot$se,
                                             deff = tot$DEff.enroll)
out[["_about"]] <- list(source = paste("R", R.version$major, R.version$minor, "survey", as.character(packageVersion("survey"))),
                        script = "tests/reference/make_lonely_psu.R", digits = "15 significant")
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE), "tests/reference/lonely_psu.json")
