# References for the spatio-temporal Fay-Herriot model (issue 26): R sae's eblupSTFH (Marhuenda, Molina & Morales 2013).
#
# Data the tests own:
#  - stfh/grid.csv (generated below, seed 2, 17 significant digits): 36 territories on the 6 x 6 rook grid of
#    borrow/neighbours.csv (proxmat its row-standardised matrix) x 4 years (2015-2018), drawn from the model itself:
#    direct = 0.3 + 0.05 x1 + 0.1 x2 + u1 + u2 + e, u1 SAR(0.5) with sigma21 = 0.002, u2 AR(1)(0.4) with
#    sigma22 = 0.001, e ~ N(0, vardir), vardir = 0.2 / n, n in 60..300;
#  - sae's own data(spacetime) and data(spacetimeprox) (11 areas x 3 periods), written here to stfh/spacetime.csv
#    and stfh/spacetimeprox.csv with 17 significant digits.
#  (The three rights of borrow/direct.csv are not used: there sae's Fisher scoring diverges from its starting values,
#  sigma21 < 0, and, started at the REML root, moves away from it: the root is a repelling point of Fisher scoring.)
# Values (15 significant digits) in stfh_reference.json, with the R and package versions:
#  - from sae::eblupSTFH (model "ST", REML, sae's starting values, PRECISION 1e-12, MAXITER 1000): the variance
#    components (sigma21, rho1, sigma22, rho2) and their standard errors (inverse REML Fisher information), beta and
#    its standard errors, loglike, the EBLUPs;
#  - NOT from sae: sae has no analytic MSE for this model (sae 1.3 exports only the parametric bootstrap pbmseSTFH).
#    g1, g2, g3 and mse = g1 + g2 + 2 g3 (Prasad & Rao 1990; Das, Jiang & Rao 2004) are computed
#    below with dense matrices from sae's fitted parameters, an implementation written apart from the package's.
#
# Usage: Rscript tests/reference/make_stfh_reference.R tests/reference
# Needs: R packages sae 1.3 (with MASS, lme4), jsonlite.
suppressMessages({library(sae); library(jsonlite)})
out <- commandArgs(trailingOnly = TRUE)[1]
dir.create(file.path(out, "stfh"), showWarnings = FALSE)
g17 <- function(x) sprintf("%.17g", x)
sig <- function(x) signif(unname(as.numeric(x)), 15)
PRECISION <- 1e-12

## sae's data, written out (read back: the values the tests read)
data(spacetime); data(spacetimeprox)
st <- spacetime
for (v in c("X1", "X2", "Y", "Var")) st[[v]] <- g17(st[[v]])
write.csv(st, file.path(out, "stfh", "spacetime.csv"), row.names = FALSE, quote = FALSE)
px <- as.data.frame(lapply(spacetimeprox, g17), check.names = FALSE)
write.csv(px, file.path(out, "stfh", "spacetimeprox.csv"), row.names = FALSE, quote = FALSE)
st <- read.csv(file.path(out, "stfh", "spacetime.csv"))
prox <- as.matrix(read.csv(file.path(out, "stfh", "spacetimeprox.csv"), check.names = FALSE))
stopifnot(max(abs(prox - as.matrix(spacetimeprox))) == 0, max(abs(st$Y - spacetime$Y)) == 0)

## the analytic MSE g1 + g2 + 2 g3 at sae's estimates, dense: G, V, P, the REML information, L_a
analytic_mse <- function(theta, X, vardir, W, nD, nT) {
  s1 <- theta[1]; r1 <- theta[2]; s2 <- theta[3]; r2 <- theta[4]
  Id <- diag(nD); J <- matrix(1, nT, nT)
  O1 <- solve(crossprod(Id - r1 * W))
  lag <- abs(outer(1:nT, 1:nT, "-"))
  O2 <- r2^lag / (1 - r2^2)
  dO2 <- ifelse(lag > 0, lag * r2^pmax(lag - 1, 0), 0) / (1 - r2^2) + 2 * r2 * r2^lag / (1 - r2^2)^2
  dR <- 2 * r1 * crossprod(W) - W - t(W)
  A <- list(O1 %x% J, (-s1 * O1 %*% dR %*% O1) %x% J, Id %x% O2, Id %x% (s2 * dO2))
  G <- (s1 * O1) %x% J + Id %x% (s2 * O2)
  V <- G + diag(vardir)
  Vi <- solve(V)
  Q <- solve(t(X) %*% Vi %*% X)
  P <- Vi - Vi %*% X %*% Q %*% t(X) %*% Vi
  Fi <- matrix(0, 4, 4)
  for (i in 1:4) for (j in 1:4) Fi[i, j] <- 0.5 * sum(diag(P %*% A[[i]] %*% P %*% A[[j]]))
  Vbar <- solve(Fi)
  GVi <- G %*% Vi
  g1 <- diag(G - GVi %*% G)
  Dm <- X - GVi %*% X
  g2 <- rowSums((Dm %*% Q) * Dm)
  Lj <- lapply(A, function(Aj) Aj %*% Vi - GVi %*% Aj %*% Vi)  # row a of Lj: d(e_a' G V^-1)/d theta_j
  M <- nrow(X); g3 <- numeric(M)
  for (a in 1:M) {
    La <- t(sapply(Lj, function(L) L[a, ]))  # 4 x M
    g3[a] <- sum(diag(La %*% V %*% t(La) %*% Vbar))
  }
  list(g1 = g1, g2 = g2, g3 = g3, mse = g1 + g2 + 2 * g3)
}

fit_one <- function(label, formula, nD, nT, W, data, X) {  # data$vardir: the sampling variances
  r <- eblupSTFH(formula, nD, nT, vardir, W, model = "ST", MAXITER = 1000, PRECISION = PRECISION, data = data)
  stopifnot(r$fit$convergence)
  th <- r$fit$estvarcomp$estimate
  a <- analytic_mse(th, X, data$vardir, W, nD, nT)
  list(case = label, convergence = r$fit$convergence, iterations = r$fit$iterations,
       parameters = c("sigma21", "rho1", "sigma22", "rho2"), estimate = sig(th),
       std_error = sig(r$fit$estvarcomp$std.error), beta = sig(r$fit$estcoef$beta),
       beta_std_error = sig(r$fit$estcoef$std.error), loglike = sig(r$fit$goodness["loglike"]),
       eblup = sig(r$eblup), g1 = sig(a$g1), g2 = sig(a$g2), g3 = sig(a$g3), mse = sig(a$mse))
}

fits <- list()
nD <- nrow(prox); nT <- length(unique(st$Time))
Xs <- cbind(1, st$X1, st$X2)
fits[[1]] <- c(fit_one("spacetime", Y ~ X1 + X2, nD, nT, prox, transform(st, vardir = Var), Xs),
               list(area = st$Area, time = st$Time))

nb <- read.csv(file.path(out, "borrow", "neighbours.csv"), stringsAsFactors = FALSE)
territory <- sort(unique(nb$territory_a)); m <- length(territory)
adj <- matrix(0, m, m); adj[cbind(match(nb$territory_a, territory), match(nb$territory_b, territory))] <- 1
W <- adj / rowSums(adj)
years <- 2015:2018; nt <- length(years)
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(2)
x1 <- outer(rnorm(m), rep(1, nt)) + matrix(rnorm(m * nt, 0, 0.3), m, nt)
x2 <- outer(runif(m), rep(1, nt))
u1 <- solve(diag(m) - 0.5 * W, rnorm(m, 0, sqrt(0.002)))
e2 <- matrix(rnorm(m * nt, 0, sqrt(0.001)), m, nt)
u2 <- e2; u2[, 1] <- e2[, 1] / sqrt(1 - 0.4^2)
for (t in 2:nt) u2[, t] <- 0.4 * u2[, t - 1] + e2[, t]
n <- matrix(sample(60:300, m * nt, replace = TRUE), m, nt)
vardir <- 0.2 / n
truth <- 0.3 + 0.05 * x1 + 0.1 * x2 + u1 + u2
y <- truth + matrix(rnorm(m * nt, 0, sqrt(vardir)), m, nt)
grid <- data.frame(territory = rep(territory, each = nt), year = rep(years, m), direct = g17(c(t(y))),
                   vardir = g17(c(t(vardir))), x1 = g17(c(t(x1))), x2 = g17(c(t(x2))), truth = g17(c(t(truth))))
write.csv(grid, file.path(out, "stfh", "grid.csv"), row.names = FALSE, quote = FALSE)
dd <- read.csv(file.path(out, "stfh", "grid.csv"), stringsAsFactors = FALSE)  # sorted by territory, then year
fits[[2]] <- c(fit_one("grid", direct ~ x1 + x2, m, nt, W, dd, cbind(1, dd$x1, dd$x2)),
               list(territory = dd$territory, year = dd$year))

versions <- sapply(c("sae", "MASS", "lme4", "jsonlite"), function(p) as.character(packageVersion(p)))
ref <- list(`_about` = list(
  r = R.version.string, packages = as.list(versions),
  script = "tests/reference/make_stfh_reference.R",
  data = paste("stfh/spacetime.csv, stfh/spacetimeprox.csv (sae's data(spacetime), data(spacetimeprox));",
               "stfh/grid.csv (territory, year, direct, vardir, x1, x2, truth) on the grid of borrow/neighbours.csv"),
  fit = paste("sae::eblupSTFH, model 'ST', REML, sae's starting values, PRECISION", PRECISION, "(relative change",
              "of the parameters), MAXITER 1000"),
  mse = paste("g1, g2, g3, mse = g1 + g2 + 2 g3 are NOT sae's (sae has no analytic MSE for eblupSTFH, only",
              "pbmseSTFH): dense-matrix R code of this script at sae's estimates, REML Fisher information")),
  fits = fits)
writeLines(toJSON(ref, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(out, "stfh_reference.json"))
