## Reference values for issue 14 (non-takers, quantiles, contrasts, Rao-Scott tests,
## survey logistic regression) and the two interval findings.
##
## Run from the repository root:
##   Rscript tests/reference/make_analysis_reference.R
## Writes tests/reference/analysis_reference.json (15 significant digits), with the
## R and survey versions in its "_about" entry. Data: the api data of R's survey
## package, copies in tests/reference/api/. Binary "rights" are made from them:
##   schwide = sch.wide, compimp = comp.imp, awards, both = sch.wide * comp.imp (1/0),
##   dist5 = 1 when the district number ends in 0-4 (constant within a district: a
##   design effect of about the cluster size on the cluster samples).
suppressMessages({library(survey); library(jsonlite)})
api <- file.path("tests", "reference", "api")
prep <- function(d) {
  d$schwide <- as.numeric(d$sch.wide); d$compimp <- as.numeric(d$comp.imp)
  d$awards <- as.numeric(d$awards); d$both <- d$schwide * d$compimp
  d$dist5 <- as.numeric(d$dnum %% 10 < 5)
  d
}
apistrat <- prep(read.csv(file.path(api, "apistrat.csv")))
apiclus1 <- prep(read.csv(file.path(api, "apiclus1.csv")))
apiclus2 <- prep(read.csv(file.path(api, "apiclus2.csv")))
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
rclus1 <- as.svrepdesign(dclus1, type = "JK1")
rstrat <- as.svrepdesign(dstrat, type = "JKn")
designs <- list(dstrat = dstrat, dclus1 = dclus1, dclus2 = dclus2, rclus1 = rclus1, rstrat = rstrat)
ref <- list()
num <- function(x) unname(as.numeric(x))

## 1. svyciprop at large design effects (likelihood) and on replicate designs (logit) -------
ciprop <- function(name, variable, dname, method, sub = NULL) {
  d <- designs[[dname]]
  if (!is.null(sub)) d <- subset(d, stype == sub)
  f <- as.formula(paste0("~", variable))
  m <- svymean(f, d)
  ci <- tryCatch(svyciprop(f, d, method = method), error = function(e) e)
  e <- list(design = dname, subset_stype = if (is.null(sub)) "" else sub, variable = variable, method = method,
            estimate = num(coef(m)), se = num(SE(m)), df = degf(d), n = nrow(d))
  if (inherits(ci, "error")) e$r_error <- conditionMessage(ci) else e$ci <- num(attr(ci, "ci"))
  if (method %in% c("likelihood", "logit")) {
    g <- svyglm(as.formula(paste(variable, "~ 1")), d, family = quasibinomial)
    e$glm_coef <- num(coef(g)); e$glm_se <- num(SE(g))
    if (!is.null(g$naive.cov)) e$glm_lambda <- num(diag(g$cov.unscaled) / diag(g$naive.cov))
  }
  ref[[name]] <<- e
}
for (v in c("schwide", "both", "dist5")) {
  ciprop(paste0("lik_clus1_", v), v, "dclus1", "likelihood")
  ciprop(paste0("lik_clus2_", v), v, "dclus2", "likelihood")
  ciprop(paste0("lik_clus1_E_", v), v, "dclus1", "likelihood", "E")
}
for (dn in c("rclus1", "rstrat")) for (v in c("schwide", "both", "awards")) for (meth in c("logit", "likelihood", "xlogit")) {
  ciprop(paste("rep", dn, v, meth, sep = "_"), v, dn, meth)
  ciprop(paste("rep", dn, "E", v, meth, sep = "_"), v, dn, meth, "E")
}
## qf far in the tail (the zmax of the profile interval)
qf_cases <- rbind(c(2.09e-13, 39), c(4e-23, 8756), c(1e-300, 8756), c(1e-300, 3), c(0.05, 10), c(1e-10, 1), c(1e-5, 2))
ref[["qf_upper_tail"]] <- list(alpha = qf_cases[, 1], df2 = qf_cases[, 2],
                               value = qf(qf_cases[, 1], 1, qf_cases[, 2], lower.tail = FALSE))

## 2. totals of takers and non-takers, means, ratios, quantiles, by domain ---------------------
byres <- function(res, ci_df = NULL) {
  # svyby output -> estimate, se, and (for svyquantile) the CI
  list(estimate = num(coef(res)), se = num(SE(res)))
}
for (dn in c("dstrat", "dclus1", "dclus2", "rclus1", "rstrat")) {
  d <- designs[[dn]]
  # takers and non-takers of schwide and awards (1 - y) by stype
  for (v in c("schwide", "awards")) {
    f <- as.formula(paste0("~", v, " + I(1 - ", v, ")"))
    t_all <- svytotal(f, d)
    t_by <- svyby(f, ~stype, d, svytotal)
    ref[[paste("total", dn, v, sep = "_")]] <- list(design = dn, variable = v,
      overall = list(estimate = num(coef(t_all)), se = num(SE(t_all))),
      by_stype = list(levels = as.character(t_by$stype), estimate = num(as.matrix(t_by[, 2:3])),
                      se = num(as.matrix(t_by[, 4:5]))),
      layout = "by_stype estimate/se: column-major (levels x [takers, non_takers])")
  }
  m_by <- svyby(~api00 + meals, ~stype, d, svymean)
  ref[[paste("mean", dn, sep = "_")]] <- list(design = dn, levels = as.character(m_by$stype),
    estimate = num(as.matrix(m_by[, 2:3])), se = num(as.matrix(m_by[, 4:5])),
    layout = "levels x [api00, meals], column-major")
  r_by <- svyby(~api00, ~stype, d, svyratio, denominator = ~api99)
  ref[[paste("ratio", dn, sep = "_")]] <- list(design = dn, levels = as.character(r_by$stype),
    estimate = num(r_by[, 2]), se = num(SE(r_by)))
  for (v in c("api00", "meals")) {
    qs_all <- svyquantile(as.formula(paste0("~", v)), d, quantiles = c(0.1, 0.25, 0.5, 0.75, 0.9), na.rm = TRUE)
    tab <- qs_all[[1]]
    ref[[paste("quantile", dn, v, sep = "_")]] <- list(design = dn, variable = v, quantiles = c(0.1, 0.25, 0.5, 0.75, 0.9),
      estimate = num(tab[, 1]), ci_low = num(tab[, 2]), ci_high = num(tab[, 3]), se = num(tab[, 4]), df = degf(d))
    byq <- list()
    for (lv in c("E", "H", "M")) {
      ds <- subset(d, stype == lv)
      tq <- svyquantile(as.formula(paste0("~", v)), ds, quantiles = c(0.25, 0.5, 0.75), na.rm = TRUE)[[1]]
      byq[[lv]] <- list(estimate = num(tq[, 1]), ci_low = num(tq[, 2]), ci_high = num(tq[, 3]), se = num(tq[, 4]),
                        df = degf(ds))
    }
    ref[[paste("quantile_by", dn, v, sep = "_")]] <- c(list(design = dn, variable = v, quantiles = c(0.25, 0.5, 0.75)), byq)
  }
}

## 3. contrasts between domains and rights, with p.adjust ----------------------------------------
for (dn in c("dstrat", "dclus1", "rclus1")) {
  d <- designs[[dn]]
  b <- svyby(~schwide, ~stype, d, svymean, covmat = TRUE)  # levels E, H, M
  pw <- svycontrast(b, list(H_E = c(-1, 1, 0), M_E = c(-1, 0, 1), M_H = c(0, -1, 1)))
  t <- coef(pw) / SE(pw); ddf <- degf(d); p <- 2 * pt(-abs(t), ddf)
  ref[[paste("pairwise", dn, sep = "_")]] <- list(design = dn, variable = "schwide", names = names(coef(pw)),
    estimate = num(coef(pw)), se = num(SE(pw)), df = ddf, p = num(p), holm = num(p.adjust(p, "holm")),
    bonferroni = num(p.adjust(p, "bonferroni")), note = "t test with degf(design) degrees of freedom")
  m <- svymean(~schwide + awards + compimp, d)
  cr <- svycontrast(m, list(schwide_awards = c(1, -1, 0), mean_two = c(0, 0.5, 0.5)))
  ref[[paste("rights_contrast", dn, sep = "_")]] <- list(design = dn, names = names(coef(cr)), estimate = num(coef(cr)),
    se = num(SE(cr)), df = degf(d))
}

## 4. Rao-Scott tests of association (svychisq) -----------------------------------------------
## hi_growth: api00 - api99 > 30, empty (NA) for high schools (not "eligible"): R's svychisq
## then takes N = all rows of the design (NA rows included) for svytable(Ntotal = N).
for (nm in c("dstrat", "dclus1", "dclus2", "rclus1", "rstrat")) {
  designs[[nm]] <- update(designs[[nm]], hi_growth = ifelse(stype == "H", NA, as.numeric(api00 - api99 > 30)),
                          stype_awards = interaction(stype, awards))
}
chis <- list(c("schwide", "stype"), c("awards", "stype"), c("schwide", "awards"), c("hi_growth", "stype"),
             c("both", "stype_awards"), c("compimp", "hi_growth"))
for (dn in c("dstrat", "dclus1", "dclus2", "rclus1", "rstrat")) for (cc in chis) {
  d <- designs[[dn]]
  f <- as.formula(paste0("~", cc[1], " + ", cc[2]))
  out <- list(design = dn, row = cc[1], col = cc[2])
  for (st in c("F", "Chisq", "Wald", "adjWald")) {
    tt <- tryCatch(svychisq(f, d, statistic = st), error = function(e) e)
    out[[st]] <- if (inherits(tt, "error")) list(r_error = conditionMessage(tt)) else
      list(statistic = num(tt$statistic), parameter = num(tt$parameter), p = num(tt$p.value))
  }
  ref[[paste("chisq", dn, cc[1], cc[2], sep = "_")]] <- out
}

## 5. survey logistic regression (svyglm quasibinomial), regTermTest, svypredmeans ------------------
## R's IRLS takes the working weights of svy.varcoef from the iterate before the last, so even
## with a tight epsilon R's SEs sit ~1e-7 from those of the converged fit. The reference runs
## IRLS for 50 iterations (epsilon = 1e-300, R then warns that it "did not converge"): the
## last iterates agree to machine precision and R's coefficients and SEs are those of the
## exact fit. stype a factor (E reference), meals and ell numeric (percentages).
ctl <- glm.control(epsilon = 1e-300, maxit = 50)
for (dn in c("dstrat", "dclus1", "dclus2", "rclus1", "rstrat")) {
  d <- designs[[dn]]
  forms <- c(main = "schwide ~ stype + meals + ell", inter = "schwide ~ stype * meals + ell")
  for (fn in names(forms)) {
    form <- forms[[fn]]
    m <- suppressWarnings(svyglm(as.formula(form), d, family = quasibinomial, control = ctl))
    ci <- confint(m)
    terms <- attr(terms(m), "term.labels")
    tests <- lapply(terms, function(tt) {
      r <- regTermTest(m, as.formula(paste("~", tt)))
      list(term = tt, F = num(r$Ftest), df = num(r$df), ddf = num(r$ddf), p = num(r$p))
    })
    out <- list(design = dn, formula = form, names = names(coef(m)), coef = num(coef(m)), se = num(SE(m)),
                df_residual = m$df.residual, ci_low = num(ci[, 1]), ci_high = num(ci[, 2]), tests = tests)
    ref[[paste("glm", dn, fn, sep = "_")]] <- out
  }
  if (inherits(d, "svyrep.design")) next  # svypredmeans stops on replicate designs in survey 4.1.1
  m0 <- suppressWarnings(svyglm(schwide ~ meals + ell, d, family = quasibinomial, control = ctl))
  pm <- suppressWarnings(svypredmeans(m0, ~factor(stype)))
  ref[[paste("predmeans", dn, sep = "_")]] <- list(design = dn, adjust = "schwide ~ meals + ell", group = "stype",
    levels = names(coef(pm)), estimate = num(coef(pm)), se = num(SE(pm)))
}

## write --------------------------------------------------------------------------------
ref[["_about"]] <- list(
  source = paste("R", paste(R.version$major, R.version$minor, sep = "."), "survey", as.character(packageVersion("survey"))),
  script = "tests/reference/make_analysis_reference.R",
  designs = list(dstrat = "svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc, data=apistrat)",
                 dclus1 = "svydesign(id=~dnum, weights=~pw, fpc=~fpc, data=apiclus1)",
                 dclus2 = "svydesign(id=~dnum+snum, fpc=~fpc1+fpc2, data=apiclus2)",
                 rclus1 = "as.svrepdesign(dclus1, type='JK1')", rstrat = "as.svrepdesign(dstrat, type='JKn')"))
writeLines(toJSON(ref, auto_unbox = TRUE, digits = I(15), pretty = TRUE, na = "null"),
           file.path("tests", "reference", "analysis_reference.json"))
