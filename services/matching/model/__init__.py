"""The learned score: a calibrated linear model over pair features, its registry and training."""
