# R's figures for the sizes of canaryd's stats benchmarks: wilcox.test with
# the Hodges-Lehmann estimate and its 95% interval (conf.int = TRUE), the
# same work as stats.Workspace.MannWhitney. Run by benchmarks/reference/run.sh.
# Prints one line per case: name, CPU seconds per operation (user + system,
# median over batches of calls), calls.
cpu_per_op <- function(fn, min_seconds = 1, max_repeats = 1000) {
  # system.time counts in milliseconds: time batches of calls that take at
  # least 50 ms each, the batch size found by doubling.
  fn()
  batch <- 1
  repeat {
    t <- system.time(for (i in seq_len(batch)) fn(), gcFirst = FALSE)
    if (t[["user.self"]] + t[["sys.self"]] >= 0.05 || batch >= 2^20) break
    batch <- batch * 2
  }
  times <- c()
  total <- 0
  while (total < min_seconds && length(times) < max_repeats) {
    t <- system.time(for (i in seq_len(batch)) fn(), gcFirst = FALSE)
    dt <- t[["user.self"]] + t[["sys.self"]]
    times <- c(times, dt / batch)
    total <- total + dt
  }
  c(median(times), length(times) * batch)
}
samples <- function(n, seed) {
  set.seed(seed)
  list(x = rnorm(n) + 0.2, y = rnorm(n))
}
cat(sprintf("# %s\n", R.version.string))
cases <- list(
  list("small", 30, TRUE), list("judge", 300, FALSE),
  list("medium", 1000, FALSE), list("huge", 100000, FALSE))
for (c in cases) {
  s <- samples(c[[2]], c[[2]])
  r <- cpu_per_op(function() wilcox.test(s$x, s$y, exact = c[[3]], conf.int = TRUE))
  cat(sprintf("R wilcox.test conf.int %s n=m=%d %s\t%.6g s\t%d calls\n", c[[1]], c[[2]],
              if (c[[3]]) "exact" else "asymptotic", r[1], r[2]))
}
s <- samples(100000, 7)
both <- c(s$x, s$y)
r <- cpu_per_op(function() sort(both))
cat(sprintf("R sort 200000 values\t%.6g s\t%d calls\n", r[1], r[2]))
