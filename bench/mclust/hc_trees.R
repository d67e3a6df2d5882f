# mclust's hierarchical clustering of several data sets, as Mclust builds it:
# hc(X, modelName = "VVV" (d >= 2; "EII" when n <= d; "V" for one column),
#    use = mclust.options("hcUse")), the merge pairs and hclass(, 1:9).
# Usage: Rscript bench/mclust/hc_trees.R OUTDIR   (read by hc_agreement.py)
suppressPackageStartupMessages(library(mclust))
out <- commandArgs(trailingOnly = TRUE)[1]
data(diabetes); data(banknote); data(wreath); data(thyroid); data(chevron)
sets <- list(
  faithful = faithful, iris = iris[, 1:4], diabetes = diabetes[, -1],
  banknote = banknote[, -1], wreath = wreath, thyroid = thyroid[, -1],
  chevron = chevron[, -1], waiting = faithful[, "waiting", drop = FALSE],
  precip = data.frame(precip = unname(precip))
)
for (name in names(sets)) {
  X <- data.matrix(sets[[name]])
  d <- ncol(X)
  model <- if (d == 1) "V" else if (nrow(X) > d) mclust.options("hcModelName") else "EII"
  h <- hc(X, modelName = model, use = mclust.options("hcUse"))
  file <- function(what) file.path(out, paste0(name, "_", what, ".csv"))
  write.table(X, file("X"), row.names = FALSE, col.names = FALSE, sep = ",")
  write.table(t(h), file("pairs"), row.names = FALSE, col.names = FALSE, sep = ",")
  write.table(hclass(h, 1:9), file("classes"), row.names = FALSE, col.names = FALSE, sep = ",")
  writeLines(model, file.path(out, paste0(name, "_model.txt")))
}
writeLines(as.character(packageVersion("mclust")), file.path(out, "version.txt"))
