# mclust's noise component on given data and initial noise rows (read by noise_comparison.py).
# Usage: Rscript bench/mclust/noise_fit.R DATA.csv NOISE.txt OUT_PREFIX MODEL G
#   DATA.csv: the rows (no header); NOISE.txt: 1-based indices of the initial noise rows.
#   Writes OUT_PREFIX_fit.csv (the given model and G) and OUT_PREFIX_best.csv (Mclust's own
#   choice over its 14 models and G = 1..9), each with loglik, df, bic, hypvol, the noise
#   proportion, the model and G, and OUT_PREFIX_*_class.txt (0 = noise).
suppressPackageStartupMessages(library(mclust))
a <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(a[1], header = FALSE))
noise <- scan(a[2], quiet = TRUE)
write_fit <- function(fit, name) {
  pro <- fit$parameters$pro
  row <- data.frame(model = fit$modelName, G = fit$G, loglik = fit$loglik, df = fit$df,
                    bic = fit$bic, hypvol = fit$hypvol, noise = pro[length(pro)])
  write.csv(row, paste0(a[3], "_", name, ".csv"), row.names = FALSE)
  writeLines(as.character(fit$classification), paste0(a[3], "_", name, "_class.txt"))
}
write_fit(Mclust(X, G = as.integer(a[5]), modelNames = a[4],
                 initialization = list(noise = noise), verbose = FALSE), "fit")
write_fit(Mclust(X, initialization = list(noise = noise), verbose = FALSE), "best")
writeLines(as.character(packageVersion("mclust")), paste0(a[3], "_version.txt"))
