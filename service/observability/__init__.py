"""What the service measures about itself: statistics, profiling, Prometheus metrics,
database probes and the advice rules over them."""
