# References for the models that borrow strength over neighbours, years and rights (issue 26).
#
# 1. Generates (seeded, below) a data set the tests own: 36 territories on a 6 x 6 grid x 4 years x 3 rights,
#    direct estimates with full sampling covariances (between rights within a territory-year, between years of
#    a territory: one 12 x 12 matrix per territory) and a rook neighbours structure (shared edge), written to
#    borrow/direct.csv, borrow/covariances.csv and borrow/neighbours.csv with 17 significant digits (exact).
# 2. Fits the anchors on those files and writes their EBLUPs and MSEs with 15 significant digits to
#    borrow_reference.json, with the R and package versions:
#    - sae::eblupSFH + sae::mseSFH (spatial SAR Fay-Herriot; REML and ML), one fit per right x year, proxmat the
#      row-standardised rook matrix;
#    - sae2::eblupRY (Rao-Yu, AR(1) area-time effects; REML and ML), one fit per right, vardir the 4 x 4 covariance
#      over years of each territory; and a REML fit with three territories out of the sample (y.include);
#    - msae::eblupMFH1 (multivariate FH, independent effects per right; REML), one fit per year over the 3 rights,
#      vardir the 3 x 3 covariance between rights; msae::eblupMFH2 (AR(1) across the variables; REML), one fit per
#      right with the 4 years as the variables.
#    msae rounds every output with signif(..., digits = 5) (R/eblupMFH1.R, R/eblupMFH2.R): its functions are
#    run here with `signif` masked by the identity (same code, environment whose `signif` returns its argument),
#    so the values are msae's unrounded ones.
#    Fits are run to tight tolerances (PRECISION below) so that the values are the REML/ML solutions.
#
# Usage: Rscript tests/reference/make_borrow_reference.R tests/reference
# Needs: R packages sae 1.3, sae2, msae 0.1.5 (CRAN sources from github.com/cran/{sae,sae2,msae}, R CMD INSTALL),
#        MASS, lme4, survey, magic, jsonlite.
suppressMessages({library(sae); library(sae2); library(msae); library(jsonlite)})
out <- commandArgs(trailingOnly = TRUE)[1]
dir.create(file.path(out, "borrow"), showWarnings = FALSE)

## ---- 1. data ---------------------------------------------------------------------------------------------
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(26)
nr <- 6; nc <- 6; m <- nr * nc
years <- 2015:2018; nt <- length(years)
rights <- c("cmuc", "acs", "rsa"); nv <- length(rights)
territory <- sprintf("T%02d", 1:m)
row <- (1:m - 1) %/% nc; col <- (1:m - 1) %% nc
adj <- outer(1:m, 1:m, function(i, j) abs(row[i] - row[j]) + abs(col[i] - col[j]) == 1) * 1
W <- adj / rowSums(adj)  # row-standardised, as sae's proxmat

# covariates: x1 by territory and year (a trend around a territory level), x2 by territory
x2 <- round(runif(m, 0, 1), 3)
x1 <- outer(rnorm(m, 0, 1), rep(1, nt)) + outer(rep(1, m), 0.15 * (0:(nt - 1))) + matrix(rnorm(m * nt, 0, 0.3), m, nt)
beta <- rbind(c(0.30, 0.05, 0.10), c(0.45, -0.04, 0.08), c(0.25, 0.03, 0.12))  # right x (1, x1, x2)
# territory effects: spatially smooth (SAR, 0.6) and correlated across rights (0.5); AR(1) area-time effects (0.6)
Cr <- matrix(0.5, nv, nv); diag(Cr) <- 1
sar <- solve(diag(m) - 0.6 * W)
v <- sar %*% matrix(rnorm(m * nv), m, nv) %*% chol(Cr) * sqrt(0.0012)
u <- array(0, c(m, nt, nv))
eps <- array(rnorm(m * nt * nv), c(m, nt, nv)) * sqrt(0.0008)
u[, 1, ] <- eps[, 1, ] / sqrt(1 - 0.6^2)
for (t in 2:nt) u[, t, ] <- 0.6 * u[, t - 1, ] + eps[, t, ]
theta <- array(0, c(m, nt, nv))
for (k in 1:nv) theta[, , k] <- beta[k, 1] + beta[k, 2] * x1 + beta[k, 3] * x2 + v[, k] + u[, , k]
# sampling covariances: one 12 x 12 matrix per territory, order (right, year) with the year fastest;
# sd = sqrt(c_right / n) with n the territory-year sample size; correlations 0.4 between rights, 0.35^|lag| between years
n <- matrix(sample(60:300, m * nt, replace = TRUE), m, nt)
cr <- c(0.20, 0.24, 0.18)
Kr <- matrix(0.4, nv, nv); diag(Kr) <- 1
Kt <- 0.35^abs(outer(1:nt, 1:nt, "-"))
K <- Kr %x% Kt
S <- lapply(1:m, function(d) {s <- sqrt(rep(cr, each = nt) / rep(n[d, ], nv)); K * outer(s, s)})
e <- t(sapply(1:m, function(d) drop(t(chol(S[[d]])) %*% rnorm(nv * nt))))  # m x 12
direct <- array(0, c(m, nt, nv))
for (k in 1:nv) for (t in 1:nt) direct[, t, k] <- theta[, t, k] + e[, (k - 1) * nt + t]

g17 <- function(x) sprintf("%.17g", x)
tab <- expand.grid(d = 1:m, t = 1:nt, k = 1:nv)
tab <- tab[order(tab$k, tab$t, tab$d), ]
idx <- cbind(tab$d, tab$t, tab$k)
vardir_of <- function(d, t, k) S[[d]][(k - 1) * nt + t, (k - 1) * nt + t]
dframe <- data.frame(territory = territory[tab$d], year = years[tab$t], right = rights[tab$k],
                     direct = g17(direct[idx]), vardir = g17(mapply(vardir_of, tab$d, tab$t, tab$k)),
                     x1 = g17(x1[cbind(tab$d, tab$t)]), x2 = g17(x2[tab$d]), truth = g17(theta[idx]))
write.csv(dframe, file.path(out, "borrow", "direct.csv"), row.names = FALSE, quote = FALSE)
cov_rows <- list()
lab <- expand.grid(t = 1:nt, k = 1:nv)  # the order of S's rows: year fastest
for (d in 1:m) for (a in 1:(nv * nt - 1)) for (b in (a + 1):(nv * nt))
  cov_rows[[length(cov_rows) + 1]] <- data.frame(territory = territory[d], right_a = rights[lab$k[a]],
    year_a = years[lab$t[a]], right_b = rights[lab$k[b]], year_b = years[lab$t[b]], cov = g17(S[[d]][a, b]))
write.csv(do.call(rbind, cov_rows), file.path(out, "borrow", "covariances.csv"), row.names = FALSE, quote = FALSE)
nb <- which(adj == 1, arr.ind = TRUE)
nb <- nb[order(nb[, 1], nb[, 2]), ]
write.csv(data.frame(territory_a = territory[nb[, 1]], territory_b = territory[nb[, 2]]),
          file.path(out, "borrow", "neighbours.csv"), row.names = FALSE, quote = FALSE)

## ---- 2. the anchors, on the files just written (read back: the values the tests read) ---------------------
D <- read.csv(file.path(out, "borrow", "direct.csv"), stringsAsFactors = FALSE)
C <- read.csv(file.path(out, "borrow", "covariances.csv"), stringsAsFactors = FALSE)
stopifnot(all(D$direct == as.numeric(g17(direct[idx]))))
covmat <- function(d, keys) {  # covariance between the (right, year) keys of territory d
  k <- length(keys$right); M <- matrix(0, k, k)
  dd <- D[D$territory == d, ]
  for (i in 1:k) M[i, i] <- dd$vardir[dd$right == keys$right[i] & dd$year == keys$year[i]]
  cc <- C[C$territory == d, ]
  for (i in 1:k) for (j in 1:k) if (i != j) {
    h <- which((cc$right_a == keys$right[i] & cc$year_a == keys$year[i] & cc$right_b == keys$right[j] & cc$year_b == keys$year[j]) |
               (cc$right_b == keys$right[i] & cc$year_b == keys$year[i] & cc$right_a == keys$right[j] & cc$year_a == keys$year[j]))
    M[i, j] <- cc$cov[h]
  }
  M
}
sig <- function(x) signif(unname(as.numeric(x)), 15)
PRECISION <- 1e-12

versions <- sapply(c("sae", "sae2", "msae", "MASS", "lme4", "survey", "magic"), function(p) as.character(packageVersion(p)))
ref <- list(`_about` = list(
  r = R.version.string, packages = as.list(versions),
  script = "tests/reference/make_borrow_reference.R (seed 26; data in borrow/)",
  data = paste("borrow/direct.csv (territory, year, right, direct, vardir, x1, x2, truth), borrow/covariances.csv",
               "(territory, right_a, year_a, right_b, year_b, cov: each off-diagonal pair once),",
               "borrow/neighbours.csv (territory_a, territory_b: rook neighbours of a 6 x 6 grid, both orders)"),
  model = "direct ~ x1 + x2 for every right (and year); REML unless the key says ML",
  precision = paste("fits run with PRECISION =", PRECISION, "(sae, msae: relative change; sae2: change over the",
                    "smallest sampling variance) and MAXITER 1000"),
  msae = "msae outputs are NOT rounded: eblupMFH1/2 run with signif masked by the identity (msae rounds to 5 digits)"))

## sae::eblupSFH / mseSFH, per right x year
sfh <- list()
for (meth in c("REML", "ML")) for (k in rights) for (yr in years) {
  dd <- D[D$right == k & D$year == yr, ]
  dd <- dd[match(territory, dd$territory), ]
  r <- mseSFH(direct ~ x1 + x2, vardir, W, method = meth, MAXITER = 1000, PRECISION = PRECISION, data = dd)
  sfh[[length(sfh) + 1]] <- list(method = meth, right = k, year = yr, territory = dd$territory,
    refvar = sig(r$est$fit$refvar), spatialcorr = sig(r$est$fit$spatialcorr), iterations = r$est$fit$iterations,
    beta = sig(r$est$fit$estcoef$beta), beta_std_error = sig(r$est$fit$estcoef$std.error),
    loglike = sig(r$est$fit$goodness["loglike"]), eblup = sig(r$est$eblup), mse = sig(r$mse))
}
ref$sfh <- sfh

## sae2::eblupRY, per right: D territories x TI = 4 years; vardir the 4 x 4 covariance over years
ry <- list()
ry_fit <- function(meth, k, include = NULL) {
  dd <- D[D$right == k, ]
  dd <- dd[order(match(dd$territory, territory), dd$year), ]
  V <- lapply(territory, function(d) covmat(d, list(right = rep(k, nt), year = years)))
  args <- list(direct ~ x1 + x2, D = m, TI = nt, vardir = V, method = meth, MAXITER = 1000, PRECISION = PRECISION,
               data = dd)
  if (!is.null(include)) args$y.include <- include
  r <- do.call(eblupRY, args)
  list(method = meth, right = k, territory = dd$territory, year = dd$year,
       y_include = if (is.null(include)) NULL else include, convergence = r$fit$convergence,
       iterations = unname(r$fit$iterations), sig2_u = sig(r$delta["sig2_u"]), sig2_v = sig(r$delta["sig2_v"]),
       rho = sig(r$delta["rho"]), beta = sig(r$coef), beta_std_error = sig(sqrt(diag(r$var.coef))),
       loglike = sig(r$fit$goodness["loglike"]), eblup = sig(r$eblup), g1 = sig(r$eblup.g1), g2 = sig(r$eblup.g2),
       g3 = sig(r$eblup.g3), mse = sig(r$eblup.mse))
}
for (meth in c("REML", "ML")) for (k in rights) ry[[length(ry) + 1]] <- ry_fit(meth, k)
out_of_sample <- c(5, 18, 31)
inc <- rep(1, m); inc[out_of_sample] <- 0
for (k in rights) ry[[length(ry) + 1]] <- ry_fit("REML", k, inc)
ref$rao_yu <- ry

## msae without the rounding: the same functions, run in an environment whose `signif` is the identity
unrounded <- function(f) {
  env <- new.env(parent = environment(f))
  assign("signif", function(x, digits = 6) x, envir = env)
  environment(f) <- env
  f
}
MFH1 <- unrounded(msae::eblupMFH1)
MFH2 <- unrounded(msae::eblupMFH2)
mfh1 <- list()
for (yr in years) {
  w <- data.frame(territory = territory)
  for (k in rights) {
    dd <- D[D$right == k & D$year == yr, ]; dd <- dd[match(territory, dd$territory), ]
    w[[paste0("y_", k)]] <- dd$direct; w[[paste0("x1_", k)]] <- dd$x1; w[[paste0("x2_", k)]] <- dd$x2
  }
  covs <- lapply(territory, function(d) covmat(d, list(right = rights, year = rep(yr, nv))))
  w$v1 <- sapply(covs, function(M) M[1, 1]); w$v2 <- sapply(covs, function(M) M[2, 2]); w$v3 <- sapply(covs, function(M) M[3, 3])
  w$v12 <- sapply(covs, function(M) M[1, 2]); w$v13 <- sapply(covs, function(M) M[1, 3]); w$v23 <- sapply(covs, function(M) M[2, 3])
  Fo <- lapply(rights, function(k) as.formula(paste0("y_", k, " ~ x1_", k, " + x2_", k)))
  r <- MFH1(Fo, c("v1", "v2", "v3", "v12", "v13", "v23"), MAXITER = 1000, PRECISION = PRECISION, data = w)
  mfh1[[length(mfh1) + 1]] <- list(year = yr, rights = rights, territory = territory, convergence = r$fit$convergence,
    iterations = r$fit$iterations, refvar = sig(r$fit$refvar), beta = sig(r$fit$estcoef[, "beta"]),
    beta_std_error = sig(r$fit$estcoef[, "std.error"]),
    eblup = lapply(seq_along(rights), function(i) sig(r$eblup[[i]])),
    mse = lapply(seq_along(rights), function(i) sig(r$MSE[[i]])))
}
ref$mfh1 <- mfh1
mfh2 <- list()
for (k in rights) {
  w <- data.frame(territory = territory)
  for (t in 1:nt) {
    dd <- D[D$right == k & D$year == years[t], ]; dd <- dd[match(territory, dd$territory), ]
    w[[paste0("y", t)]] <- dd$direct; w[[paste0("x1_", t)]] <- dd$x1; w[[paste0("x2_", t)]] <- dd$x2
  }
  covs <- lapply(territory, function(d) covmat(d, list(right = rep(k, nt), year = years)))
  vn <- c(paste0("v", 1:nt), unlist(lapply(1:(nt - 1), function(i) paste0("v", i, (i + 1):nt))))
  for (i in 1:nt) w[[paste0("v", i)]] <- sapply(covs, function(M) M[i, i])
  for (i in 1:(nt - 1)) for (j in (i + 1):nt) w[[paste0("v", i, j)]] <- sapply(covs, function(M) M[i, j])
  Fo <- lapply(1:nt, function(t) as.formula(paste0("y", t, " ~ x1_", t, " + x2_", t)))
  r <- MFH2(Fo, vn, MAXITER = 1000, PRECISION = PRECISION, data = w)
  mfh2[[length(mfh2) + 1]] <- list(right = k, years = years, territory = territory, convergence = r$fit$convergence,
    iterations = r$fit$iterations, refvar = sig(r$fit$refvar), rho = sig(r$fit$rho$rho),
    beta = sig(r$fit$estcoef[, "beta"]), beta_std_error = sig(r$fit$estcoef[, "std.error"]),
    eblup = lapply(1:nt, function(i) sig(r$eblup[[i]])), mse = lapply(1:nt, function(i) sig(r$MSE[[i]])))
}
ref$mfh2 <- mfh2
writeLines(toJSON(ref, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(out, "borrow_reference.json"))
