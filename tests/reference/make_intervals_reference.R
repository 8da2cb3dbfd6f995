## Reference values for nonrecours.estimation.intervals (tests/test_intervals.py).
##
## Run from the repository root:
##   Rscript tests/reference/make_intervals_reference.R
## Writes tests/reference/intervals_reference.json (15 significant digits).
##
## Each entry is one svyciprop() call on the api data of R's survey package
## (copies in ../shared/reference/api/). It records what proportion_ci needs
## (estimate and se of svymean, df, n = nrow(design), level) and R's interval.
## For method "likelihood" it also records the internals of R's svyglm fit
## (coef, std.err, lambda = cov.unscaled / naive.cov) so the profile algorithm
## can be checked on R's own inputs. Errors are recorded, not hidden.
suppressMessages({library(survey); library(jsonlite)})
api <- file.path("..", "shared", "reference", "api")
if (!dir.exists(api)) api <- "/work/shared/reference/api"
apistrat <- read.csv(file.path(api, "apistrat.csv"))
apiclus2 <- read.csv(file.path(api, "apiclus2.csv"))
for (v in c(850, 875)) apistrat[[paste0("hi", v)]] <- as.numeric(apistrat$api00 > v)
apistrat$lo450 <- as.numeric(apistrat$api00 < 450)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)

methods <- c("logit", "likelihood", "asin", "beta", "mean", "xlogit")
ref <- list()
case <- function(name, variable, design, design_text, level = 0.95, df = NULL) {
  f <- as.formula(paste0("~", variable))
  m <- svymean(f, design)
  d_used <- if (is.null(df)) degf(design) else df
  for (meth in methods) {
    args <- list(f, design, method = meth, level = level)
    if (!is.null(df)) args$df <- df
    ci <- tryCatch(do.call(svyciprop, args), error = function(e) e)
    e <- list(design = design_text, variable = variable, method = meth, level = level,
              estimate = unname(as.numeric(coef(m))), se = unname(as.numeric(SE(m))),
              df = if (is.finite(d_used)) d_used else "Inf", design_df = degf(design), n = nrow(design))
    if (meth == "beta" && !is.null(df))
      e$note <- "R's beta method ignores svyciprop's df argument and uses degf(design): pass design_df"
    if (inherits(ci, "error")) {
      e$ci <- c(NA, NA); e$r_error <- conditionMessage(ci)
    } else {
      e$ci <- unname(as.numeric(attr(ci, "ci"))); e$r_estimate <- unname(as.numeric(ci))
    }
    if (meth == "likelihood" && !inherits(ci, "error")) {
      g <- svyglm(as.formula(paste(variable, "~ 1")), design, family = quasibinomial)
      e$glm_coef <- unname(coef(g))
      e$glm_std_err <- unname(sqrt(diag(g$cov.unscaled)))
      e$glm_lambda <- unname(diag(g$cov.unscaled) / diag(g$naive.cov))
    }
    ref[[paste(name, meth, sep = "_")]] <<- e
  }
}
case("strat_schwide", "sch.wide", dstrat, "dstrat")  # as api_reference.json, plus svyglm internals
case("strat_schwide_level90", "sch.wide", dstrat, "dstrat", level = 0.90)
case("strat_schwide_dfinf", "sch.wide", dstrat, "dstrat", df = Inf)
case("strat_schwide_df10_level99", "sch.wide", dstrat, "dstrat", level = 0.99, df = 10)
case("strat_lo450", "lo450", dstrat, "dstrat")
case("strat_H_hi850", "hi850", subset(dstrat, stype == "H"), "subset(dstrat, stype == 'H')")
case("strat_M_hi875", "hi875", subset(dstrat, stype == "M"), "subset(dstrat, stype == 'M')")
case("strat_H_hi875_zero", "hi875", subset(dstrat, stype == "H"), "subset(dstrat, stype == 'H')")
case("clus2_schwide", "sch.wide", dclus2, "dclus2")
case("clus2_H_schwide", "sch.wide", subset(dclus2, stype == "H"), "subset(dclus2, stype == 'H')")

ref[["_about"]] <- list(
  source = paste("R", R.version$major, R.version$minor, "survey", as.character(packageVersion("survey"))),
  script = "tests/reference/make_intervals_reference.R",
  designs = list(dstrat = "svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc, data=apistrat)",
                 dclus2 = "svydesign(id=~dnum+snum, fpc=~fpc1+fpc2, data=apiclus2)"),
  variables = "hi850 = api00 > 850, hi875 = api00 > 875, lo450 = api00 < 450 (1/0)",
  fields = paste("estimate, se: svymean; df: df used by svyciprop (degf(design) unless given);",
                 "(the string \"Inf\" for normal quantiles); design_df: degf(design); n: nrow(design); ci: attr(svyciprop, 'ci');",
                 "r_estimate: coef(svyciprop) (svyglm fit for logit/likelihood);",
                 "glm_*: svyglm internals for likelihood; r_error: R's error message"))
out <- file.path("tests", "reference", "intervals_reference.json")
writeLines(toJSON(ref, auto_unbox = TRUE, digits = I(15), pretty = TRUE, na = "null"), out)
