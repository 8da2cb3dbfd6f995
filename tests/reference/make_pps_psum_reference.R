# Reference values for the Hartley-Rao variance with the population's sum of squared inclusion
# probabilities, R survey's HR(psum) (issue 28 item 7).
# Run from the repository root:  Rscript tests/reference/make_pps_psum_reference.R
# R 4.2.2, survey 4.1.1 (sampling's inclusionprobabilities rewritten as incl() below); reads tests/reference/pps/election_pps.csv (written by make_pps_reference.R from
# survey's election_pps), survey's election (the population, for sum(p^2)), and the stratified Sampford
# sample tests/reference/pps/sampford_sample.csv with its frame tests/reference/pps/frame.csv; writes
# tests/reference/pps_psum_reference.json (15 significant digits).
# Designs: svydesign(id = ~1, fpc = ~p, pps = HR(sum(election$p^2) / 40)) as in ?HR, and the stratified
# sample with HR(psum = data.frame(ps), strata = data.frame(h)), ps = sum over the stratum's frame of
# incl(pop, n_h)^2 / n_h.
suppressMessages({library(survey); library(jsonlite)})
# sampling::inclusionprobabilities (proportional to size, units above 1 set to 1 and the rest rescaled)
incl <- function(x, n) {
  p <- n * x / sum(x)
  repeat {
    big <- p >= 1
    if (!any(p[!big] > 1)) break
    p[big] <- 1
    p[!big] <- (n - sum(big)) * x[!big] / sum(x[!big])
  }
  pmin(p, 1)
}
dir <- "tests/reference/pps"
data(election)
el <- read.csv(file.path(dir, "election_pps.csv"))
psum_el <- sum(election$p^2) / 40
de <- svydesign(id = ~1, fpc = ~p, data = el, pps = HR(psum_el))
t1 <- svytotal(~Bush, de); m1 <- svymean(~kerry_wins, de); r1 <- svyratio(~Kerry, ~votes, de)

samp <- read.csv(file.path(dir, "sampford_sample.csv"))
frame <- read.csv(file.path(dir, "frame.csv"))
samp <- samp[order(samp$region), ]
samp$h <- as.numeric(factor(samp$region))
ps <- sapply(levels(factor(samp$region)), function(r) {
  n_h <- sum(samp$region == r)
  pik <- incl(frame$pop[frame$region == r], n_h)
  sum(pik^2) / n_h
})
samp$psum <- unname(ps[samp$region])
ds <- svydesign(id = ~1, strata = ~h, fpc = ~pi, data = samp,
                pps = HR(psum = data.frame(samp$psum), strata = data.frame(samp$h)))
t2 <- svytotal(~takers, ds); r2 <- svyratio(~takers, ~eligible, ds)
out <- list(
  `_about` = list(R = R.version.string, survey = as.character(packageVersion("survey"))),
  election = list(psum = psum_el, total_bush = unname(coef(t1)), total_bush_se = unname(SE(t1)),
                  rate_kerry_wins = unname(coef(m1)), rate_kerry_wins_se = unname(SE(m1)),
                  ratio_kerry_votes = unname(coef(r1)), ratio_kerry_votes_se = unname(SE(r1))),
  sampford = list(psum = as.list(ps), total_takers = unname(coef(t2)), total_takers_se = unname(SE(t2)),
                  ratio_takers_eligible = unname(coef(r2)), ratio_takers_eligible_se = unname(SE(r2))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE), "tests/reference/pps_psum_reference.json")
