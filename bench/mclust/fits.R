# mclust's fits of the fourteen models for K = 1...6, as mclustBIC makes them
# (hierarchical start on the SVD-transformed rows, mclust's default EM control).
# Usage: Rscript bench/mclust/fits.R FOLDER [--prior] NAME...   (read by compare.py)
# --prior: with mclust's default conjugate prior (priorControl()), which mclustBIC
# fits for the ten models that have one.
# For each NAME it reads FOLDER/NAME_X.csv (no header) and writes
# FOLDER/NAME_fits.csv: model, K, BIC (mclust's sign), log-likelihood,
# parameters (nMclustParams) and mclust's return code; and FOLDER/NAME_best.txt,
# the model and K mclust selects (pickBIC).
suppressPackageStartupMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
folder <- args[1]
names <- args[-1]
prior <- NULL
if (length(names) > 0 && names[1] == "--prior") {
  prior <- priorControl()
  names <- names[-1]
}
for (name in names) {
  X <- as.matrix(read.csv(file.path(folder, paste0(name, "_X.csv")), header = FALSE))
  n <- nrow(X)
  d <- ncol(X)
  bic <- mclustBIC(X, G = 1:6, prior = prior, verbose = FALSE)
  codes <- attr(bic, "returnCodes")
  rows <- list()
  for (model in colnames(bic)) {
    for (g in rownames(bic)) {
      p <- nMclustParams(model, d, as.integer(g))
      value <- bic[g, model]
      # mclust's BIC is 2 log L - p log n: the log-likelihood follows exactly.
      rows[[length(rows) + 1]] <- data.frame(
        model = model, K = as.integer(g), bic = value,
        loglik = (value + p * log(n)) / 2, n_parameters = p,
        code = codes[g, model]
      )
    }
  }
  write.csv(do.call(rbind, rows), file.path(folder, paste0(name, "_fits.csv")),
            row.names = FALSE)
  writeLines(names(pickBIC(bic, 1)), file.path(folder, paste0(name, "_best.txt")))
}
writeLines(as.character(packageVersion("mclust")), file.path(folder, "version.txt"))
