# Reference values for replicate weights supplied with the data (issue 19): nonrecours estimate
# --repweights 'rw_*' --rep-type ... must give R's svrepdesign() SEs.
# Run from the repository root:  Rscript tests/reference/make_repweights_reference.R
# R 4.2.2, survey 4.1.1. Reads tests/reference/api/apistrat.csv; writes one CSV per replicate
# type in tests/reference/repweights/ (the data plus as.svrepdesign()'s combined replicate
# weights rw_1..rw_R, 17 significant digits, and for JKn the rscales file) and
# tests/reference/repweights_reference.json (15 significant digits). Each CSV is read back and
# estimated with svrepdesign(repweights = "rw_[0-9]+", type, scale, rscales, rho, mse) as a user would.
suppressMessages({library(survey); library(jsonlite)})
dir <- "tests/reference/repweights"
strat <- read.csv("tests/reference/api/apistrat.csv", colClasses = c(stype = "character"))
strat$yr_rnd_like <- as.numeric(strat$ell > 20)   # a second 0/1 right
strat$high[strat$sch.wide == 1] <- 1
# strata of two PSUs (for BRR/Fay): pair schools within stype by snum order
strat <- strat[order(strat$stype, strat$snum), ]
strat$pair <- paste(strat$stype, ave(seq_len(nrow(strat)), strat$stype, FUN = function(i) (seq_along(i) - 1) %/% 2))
strat <- strat[ave(seq_len(nrow(strat)), strat$pair, FUN = length) == 2, ]
base <- svydesign(id = ~1, strata = ~pair, weights = ~pw, data = strat)
cases <- list(
  JK1 = list(rep = as.svrepdesign(svydesign(id = ~1, weights = ~pw, data = strat), type = "JK1"), type = "JK1"),
  JKn = list(rep = as.svrepdesign(svydesign(id = ~1, strata = ~stype, weights = ~pw, data = strat), type = "JKn"),
             type = "JKn"),
  BRR = list(rep = as.svrepdesign(base, type = "BRR"), type = "BRR"),
  Fay = list(rep = as.svrepdesign(base, type = "Fay", fay.rho = 0.3), type = "Fay", rho = 0.3),
  bootstrap = list(rep = {set.seed(19); as.svrepdesign(svydesign(id = ~1, strata = ~stype, weights = ~pw, data = strat),
                                                          type = "bootstrap", replicates = 50)}, type = "bootstrap"),
  "successive-difference" = list(rep = {set.seed(20); as.svrepdesign(svydesign(id = ~1, weights = ~pw, data = strat),
                                                                        type = "bootstrap", replicates = 40)},
                                 type = "successive-difference"))
out <- list(`_about` = list(R = R.version.string, survey = as.character(packageVersion("survey")),
                            note = "successive-difference reuses bootstrap replicate weights only to exercise scale 4/R"))
fmt <- function(x) sprintf("%.17g", x)
for (nm in names(cases)) {
  cs <- cases[[nm]]
  W <- weights(cs$rep, "analysis")
  colnames(W) <- paste0("rw_", seq_len(ncol(W)))
  d <- data.frame(cds = strat$cds, stype = strat$stype, api00 = strat$api00, enroll = strat$enroll,
                  sch.wide = strat$sch.wide, ell20 = strat$yr_rnd_like, pw = fmt(strat$pw))
  d$sch.wide[seq(3, nrow(d), by = 17)] <- NA   # not eligible: empty
  Wd <- as.data.frame(apply(W, 2, fmt), stringsAsFactors = FALSE)
  file <- file.path(dir, paste0("apistrat_", nm, ".csv"))
  write.csv(cbind(d, Wd), file, row.names = FALSE, quote = FALSE, na = "")
  x <- read.csv(file)
  args <- list(data = x, repweights = "rw_[0-9]+", weights = ~pw, type = cs$type, combined.weights = TRUE)
  scale <- NULL
  if (cs$type %in% c("JK1", "JKn", "bootstrap")) args$scale <- scale <- cs$rep$scale
  if (cs$type == "JKn") {
    args$rscales <- cs$rep$rscales
    write.csv(data.frame(rscales = fmt(cs$rep$rscales)), file.path(dir, "apistrat_JKn_rscales.csv"),
              row.names = FALSE, quote = FALSE)
  }
  if (!is.null(cs$rho)) args$rho <- cs$rho
  res <- list(scale = scale)
  for (mse in c(FALSE, TRUE)) {
    args$mse <- mse
    des <- suppressWarnings(do.call(svrepdesign, args))
    m <- svymean(~api00, des)
    t <- svytotal(~enroll, des)
    r <- svymean(~sch.wide, subset(des, !is.na(sch.wide)))
    b <- svyby(~ell20, ~stype, des, svymean)
    res[[if (mse) "mse" else "centred"]] <- list(
      mean_api00 = unname(coef(m)), mean_api00_se = unname(SE(m)), total_enroll = unname(coef(t)),
      total_enroll_se = unname(SE(t)), rate_schwide = unname(coef(r)), rate_schwide_se = unname(SE(r)),
      by_stype = as.character(b$stype), by_rate_ell20 = unname(b$ell20), by_se_ell20 = unname(b$se),
      degf = degf(des))
  }
  out[[nm]] <- res
}
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "tests/reference/repweights_reference.json")
