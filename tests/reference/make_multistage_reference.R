# Reference values for designs of more than two stages, strata below the first stage and nest = TRUE
# (issue 19). Run from the repository root:  Rscript tests/reference/make_multistage_reference.R
# R 4.2.2, survey 4.1.1. Reads tests/reference/api/{apiclus2,apipop,apistrat}.csv (R survey's api data);
# writes tests/reference/multistage/api_three_stage.csv and tests/reference/multistage_reference.json
# (15 significant digits).
# Third stage (constructed, seed 19): every school of apiclus2 holds M3 = 3..9 classes, k = 2 or 3
# of them sampled (SRS), f3 = M3; y = a class score, z = a 0/1 right, empty for some classes (not eligible).
# Stage-2 strata: school type within district, fpc2s = schools of that type in the district (apipop).
suppressMessages({library(survey); library(jsonlite)})
api <- "tests/reference/api"
clus2 <- read.csv(file.path(api, "apiclus2.csv"), colClasses = c(stype = "character"))
pop <- read.csv(file.path(api, "apipop.csv"), colClasses = c(stype = "character"))
strat <- read.csv(file.path(api, "apistrat.csv"), colClasses = c(stype = "character"))
set.seed(19)
rows <- lapply(seq_len(nrow(clus2)), function(i) {
  M3 <- sample(3:9, 1); k <- sample(2:3, 1)
  data.frame(dnum = clus2$dnum[i], snum = clus2$snum[i], stype = clus2$stype[i], fpc1 = clus2$fpc1[i],
             fpc2 = clus2$fpc2[i], cls = seq_len(k), f3 = M3,
             y = round(clus2$api00[i] + rnorm(k, 0, 40), 1), z = rbinom(k, 1, 0.3 + 0.4 * (clus2$stype[i] == "E")))
})
three <- do.call(rbind, rows)
three$fpc2s <- as.numeric(table(paste(pop$dnum, pop$stype))[paste(three$dnum, three$stype)])
three$one <- 1
three$z[seq(4, nrow(three), by = 9)] <- NA
write.csv(three, "tests/reference/multistage/api_three_stage.csv", row.names = FALSE, na = "")

summ <- function(des, rate_design) {
  t <- svytotal(~y, des); m <- svymean(~y, des); r <- svymean(~z, rate_design)
  b <- svyby(~z, ~stype, rate_design, svymean)
  list(total_y = unname(coef(t)), total_y_se = unname(SE(t)), mean_y = unname(coef(m)), mean_y_se = unname(SE(m)),
       rate_z = unname(coef(r)), rate_z_se = unname(SE(r)), by_stype = as.character(b$stype),
       by_rate_z = unname(b$z), by_se_z = unname(b$se))
}
out <- list(`_about` = list(R = R.version.string, survey = as.character(packageVersion("survey"))))
options(survey.lonely.psu = "adjust")
d3 <- svydesign(id = ~dnum + snum + cls, fpc = ~fpc1 + fpc2 + f3, data = three)
out$three_stage <- summ(d3, subset(d3, !is.na(z)))
d3s <- svydesign(id = ~dnum + snum + cls, strata = ~one + stype, fpc = ~fpc1 + fpc2s + f3, data = three)
out$three_stage_stratified <- summ(d3s, subset(d3s, !is.na(z)))
# nest = TRUE: districts as PSUs within school-type strata (a district id recurs across strata)
out$nest_crossing_ids <- sum(rowSums(table(strat$dnum, strat$stype) > 0) > 1)
dn <- svydesign(id = ~dnum, strata = ~stype, weights = ~pw, data = strat, nest = TRUE)
m <- svymean(~api00, dn); t <- svytotal(~enroll, dn); b <- svyby(~sch.wide, ~stype, dn, svymean)
out$nest <- list(mean_api00 = unname(coef(m)), mean_api00_se = unname(SE(m)), total_enroll = unname(coef(t)),
                 total_enroll_se = unname(SE(t)), by_stype = as.character(b$stype), by_rate = unname(b$sch.wide),
                 by_se = unname(b$se), degf = degf(dn))
# zero weights (R: prob = Inf, the rows stay in the design and out of every estimate): every 7th school
strat$pw0 <- ifelse(seq_len(nrow(strat)) %% 7 == 0, 0, strat$pw)
dz <- svydesign(id = ~1, strata = ~stype, weights = ~pw0, fpc = ~fpc, data = strat)
m <- svymean(~api00, dz); b <- svyby(~sch.wide, ~stype, dz, svymean)
out$zero_weights <- list(mean_api00 = unname(coef(m)), mean_api00_se = unname(SE(m)), by_rate = unname(b$sch.wide),
                         by_se = unname(b$se), degf = degf(dz))
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE), "tests/reference/multistage_reference.json")
