# Reference values for nonrecours' PPS-without-replacement variances (issue 19).
# Run from the repository root:  Rscript tests/reference/make_pps_reference.R
# R 4.2.2, survey 4.1.1, sampling 2.9; writes tests/reference/pps/election_pps.csv,
# tests/reference/pps/election_joint.csv and tests/reference/pps_reference.json (15 significant digits).
#
# Data: (1) R survey's election_pps (40 counties drawn by PPS, p = inclusion probability) and
# election_jointprob (their joint probabilities); (2) a stratified Sampford sample drawn by
#   python -m nonrecours sample tests/reference/pps/frame.csv --allocation ALLOC --method sampford \
#     --seed 7 --size-col pop --out tests/reference/pps/sampford_sample.csv
# (ALLOC: region,stratum,n_h = north,north,9 / south,south,7), whose joint probabilities
# nonrecours wrote to sampford_sample.joint.csv; they are checked here against
# sampling::UPsampfordpi2 on the frame.
# Designs: svydesign(id = ~1, [strata], fpc = ~pi, pps = "brewer" | "overton" | HR() |
# ppsmat(joint, tolerance = 0), variance = "HT" | "YG"). tolerance = 0 keeps every joint
# probability (ppsmat's default 1e-4 sets smaller entries of the Delta-check matrix to 0).
suppressMessages({library(survey); library(sampling); library(jsonlite)})
dir <- "tests/reference/pps"
data(election)
el <- election_pps
el$kerry_wins <- as.numeric(el$Kerry > el$Bush)
el$big <- ifelse(el$TotPrecincts > median(el$TotPrecincts), "big", "small")
el$psu <- seq_len(nrow(el))
write.csv(el[, c("County", "psu", "p", "Bush", "Kerry", "votes", "kerry_wins", "big")],
          file.path(dir, "election_pps.csv"), row.names = FALSE)
ij <- which(upper.tri(election_jointprob), arr.ind = TRUE)
write.csv(data.frame(psu_i = ij[, 1], psu_j = ij[, 2], pi_ij = sprintf("%.17g", election_jointprob[ij])),
          file.path(dir, "election_joint.csv"), row.names = FALSE, quote = FALSE)

samp <- read.csv(file.path(dir, "sampford_sample.csv"))
frame <- read.csv(file.path(dir, "frame.csv"))
jt <- read.csv(file.path(dir, "sampford_sample.joint.csv"))
# joint probabilities of nonrecours vs sampling::UPsampfordpi2 on each stratum of the frame
maxdiff <- 0
for (h in unique(frame$region)) {
  fr <- frame[frame$region == h, ]
  pik <- inclusionprobabilities(fr$pop, sum(samp$region == h))
  P <- UPsampfordpi2(pik)
  rownames(P) <- colnames(P) <- fr$id
  sel <- jt[jt$psu_i %in% fr$id, ]
  maxdiff <- max(maxdiff, abs(P[cbind(sel$psu_i, sel$psu_j)] - sel$pi_ij) / sel$pi_ij)
}
n <- nrow(samp)
J <- outer(samp$pi, samp$pi)  # independent across strata
J[cbind(match(jt$psu_i, samp$psu), match(jt$psu_j, samp$psu))] <- jt$pi_ij
J[cbind(match(jt$psu_j, samp$psu), match(jt$psu_i, samp$psu))] <- jt$pi_ij
diag(J) <- samp$pi
samp$h <- as.numeric(factor(samp$region))  # overton2Dcheck/HRDcheck need numeric strata (ave() on text)

methods <- list(brewer = list(pps = "brewer", variance = "HT"), overton = list(pps = "overton", variance = "HT"),
                "hartley-rao" = list(pps = HR(), variance = "HT"), ht = list(pps = "joint", variance = "HT"),
                yg = list(pps = "joint", variance = "YG"))
out <- list(`_about` = list(R = R.version.string, survey = as.character(packageVersion("survey")),
                            sampling = as.character(packageVersion("sampling")),
                            sampford_joint_max_rel_diff_vs_UPsampfordpi2 = maxdiff))
for (m in names(methods)) {
  spec <- methods[[m]]
  pe <- if (identical(spec$pps, "joint")) ppsmat(election_jointprob, tolerance = 0) else spec$pps
  ps <- if (identical(spec$pps, "joint")) ppsmat(J, tolerance = 0) else spec$pps
  de <- svydesign(id = ~1, fpc = ~p, data = el, pps = pe, variance = spec$variance)
  ds <- svydesign(id = ~1, strata = ~h, fpc = ~pi, data = samp, pps = ps, variance = spec$variance)
  t1 <- svytotal(~Bush, de)
  m1 <- svymean(~kerry_wins, de)
  r1 <- svyratio(~Kerry, ~votes, de)
  b1 <- svyby(~kerry_wins, ~big, de, svymean)
  t2 <- svytotal(~takers, ds)
  m2 <- svymean(~high, ds, na.rm = TRUE)  # the rate among eligible rows (high empty: not eligible)
  r2 <- svyratio(~takers, ~eligible, ds)
  b2 <- svyby(~takers, ~region, ds, svytotal)
  out[[m]] <- list(
    election = list(total_bush = unname(coef(t1)), total_bush_se = unname(SE(t1)),
                    rate_kerry_wins = unname(coef(m1)), rate_kerry_wins_se = unname(SE(m1)),
                    ratio_kerry_votes = unname(coef(r1)), ratio_kerry_votes_se = unname(SE(r1)),
                    by_big = as.character(b1$big), by_big_rate = unname(b1$kerry_wins), by_big_se = unname(b1$se)),
    sampford = list(total_takers = unname(coef(t2)), total_takers_se = unname(SE(t2)),
                    rate_high = unname(coef(m2)), rate_high_se = unname(SE(m2)),
                    ratio_takers_eligible = unname(coef(r2)), ratio_takers_eligible_se = unname(SE(r2)),
                    by_region = as.character(b2$region), by_region_total = unname(b2$takers),
                    by_region_se = unname(b2$se)))
}
# Brewer with a second stage (R's multistage with pps = "brewer": stage 2 scaled by pi_i):
# election counties split into precinct-like SSUs, 3 SSUs per county sampled from 3..8 (simulated, seed 19)
set.seed(19)
two <- do.call(rbind, lapply(seq_len(nrow(el)), function(i) {
  M <- sample(3:8, 1)
  data.frame(psu = i, ssu = 1:3, p = el$p[i], f2 = 3 / M, y = rpois(3, 50) + i, z = rbinom(3, 1, 0.4))
}))
write.csv(two, file.path(dir, "election_two_stage.csv"), row.names = FALSE)
d2 <- svydesign(id = ~psu + ssu, fpc = ~p + f2, data = two, pps = "brewer")
t3 <- svytotal(~y, d2)
m3 <- svymean(~z, d2)
out$brewer_two_stage <- list(total_y = unname(coef(t3)), total_y_se = unname(SE(t3)),
                             rate_z = unname(coef(m3)), rate_z_se = unname(SE(m3)))
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE), "tests/reference/pps_reference.json")
