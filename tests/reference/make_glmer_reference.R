# Logit-normal mixed model reference: lme4::glmer(family = binomial) by Laplace (nAGQ = 1) and adaptive
# Gauss-Hermite quadrature (nAGQ = 10) on a small simulated data set with a random intercept per territory.
# Writes glmer/glmer_units.csv (the data) and glmer_reference.json. Arg: output folder (tests/reference).
suppressMessages({library(lme4); library(jsonlite)})
out <- commandArgs(trailingOnly = TRUE)[1]
set.seed(20261130)
m <- 40                                              # territories, of very unequal sizes (2 to 80 units)
size <- c(2, 3, 5, sample(4:80, m - 3, replace = TRUE))
territory <- sprintf("T%02d", rep(seq_len(m), size))
z_area <- round(rnorm(m), 3)                          # a territory-level covariate
benefit <- sample(c("AAH", "RSA", "ASPA"), sum(size), replace = TRUE, prob = c(.3, .5, .2))
qpv <- rep(rbinom(m, 1, .4), size)
u <- rnorm(m, sd = 0.7)
eta <- -0.3 + 0.5 * (benefit == "RSA") - 0.4 * (benefit == "ASPA") + 0.3 * qpv + 0.4 * rep(z_area, size) + rep(u, size)
d <- data.frame(territory = territory, benefit = benefit, qpv = qpv, z = rep(z_area, size),
                y = rbinom(sum(size), 1, plogis(eta)))
dir.create(file.path(out, "glmer"), showWarnings = FALSE)
write.csv(d, file.path(out, "glmer", "glmer_units.csv"), row.names = FALSE)
d$benefit <- factor(d$benefit, levels = c("AAH", "ASPA", "RSA"))   # treatment coding, first level sorted
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5), tolPwrss = 1e-13)
ref <- list(`_about` = list(
  source = paste0("R ", R.version$major, ".", R.version$minor, ", lme4 ", packageVersion("lme4")),
  model = "glmer(y ~ benefit + qpv + z + (1 | territory), family = binomial, data = glmer/glmer_units.csv)",
  coding = "benefit: treatment coding with levels AAH (reference), ASPA, RSA",
  optimizer = "bobyqa, rhoend = 1e-12, tolPwrss = 1e-13 (tighter than lme4 defaults 2e-7 and 1e-7, so that the optimum and the conditional modes are known to ~1e-8)"))
for (q in c(1, 10)) {
  f <- glmer(y ~ benefit + qpv + z + (1 | territory), family = binomial, data = d, nAGQ = q, control = ctrl)
  ref[[paste0("nAGQ", q)]] <- list(fixef = as.list(fixef(f)), sigma = unname(getME(f, "theta")),
    logLik = as.numeric(logLik(f)), fixef_se = unname(sqrt(diag(as.matrix(vcov(f))))),
    ranef = unname(ranef(f)$territory[, 1]), territories = rownames(ranef(f)$territory))
}
writeLines(toJSON(ref, auto_unbox = TRUE, digits = 15, pretty = TRUE), file.path(out, "glmer_reference.json"))
