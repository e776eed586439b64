"""Looking inside a trained model: attention analysis, mechanism, projections, what-if, capacity."""
